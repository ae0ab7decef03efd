"""Issue 17, acceptance 2: a 200 MB home downloads as a zip through the web process with
flat memory. The data is random (incompressible), made in the Sprite itself; the web
process's resident memory is sampled during the download and its peak (VmHWM, reset just
before) compared with where it started."""

from __future__ import annotations

import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.test import Client

from accounts.models import User
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.test_workspace_chat import in_thread, owner_with_running_project, stack
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

HOME_MB = 200
# What the web process may grow by while it streams the archive.
MAX_GROWTH_MB = 50


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "mona@example.com", "Big home", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def web_pid(stack: LiveStack) -> int:
    for process in stack.processes:
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        if b"starter.web_server" in command and b"starter.asgi:application" in command:
            return process.pid
    raise AssertionError("the live stack has no web process")


def test_a_200_mb_home_streams_as_a_zip_with_flat_memory(
    stack: LiveStack, owner_and_project: tuple[User, Project], tmp_path: Path
) -> None:
    owner, project = owner_and_project
    made = in_thread(
        run_sync,
        backend_for(project).exec(
            project.sprite_name,
            f"mkdir -p big && for i in 1 2 3 4; do head -c {HOME_MB // 4}M /dev/urandom"
            " > big/part-$i.bin; done",
            timeout=60,
        ),
    )
    assert made.exit_code == 0, made
    client = Client()
    client.force_login(owner)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    pid = web_pid(stack)
    # Warm the process up (imports, the first request's allocations), then measure.
    httpx.get(f"{stack.url}/p/{project.public_id}/workspace-files/tree/", cookies=cookies)
    before_kb = memory_kb(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(memory_kb(pid, "VmRSS"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    target = tmp_path / "home.zip"
    started = time.monotonic()
    try:
        url = f"{stack.url}/p/{project.public_id}/workspace-files/archive/"
        with (
            httpx.stream("GET", url, cookies=cookies, timeout=60) as response,
            target.open("wb") as file,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/zip"
            for chunk in response.iter_bytes():
                file.write(chunk)
    finally:
        done.set()
        sampler.join()
    seconds = time.monotonic() - started
    peak_kb = max(memory_kb(pid, "VmHWM"), *samples)
    size_mb = target.stat().st_size / 1024 / 1024
    growth_mb = (peak_kb - before_kb) / 1024
    print(
        f"\nzip of a {HOME_MB} MB home: {size_mb:.1f} MB in {seconds:.1f} s; web process RSS "
        f"{before_kb / 1024:.1f} MB before, peak {peak_kb / 1024:.1f} MB "
        f"(+{growth_mb:.1f} MB, {len(samples)} samples)"
    )
    with zipfile.ZipFile(target) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
    assert {f"big/part-{i}.bin" for i in range(1, 5)} <= set(sizes)
    assert sum(sizes[f"big/part-{i}.bin"] for i in range(1, 5)) == HOME_MB * 1024 * 1024
    assert size_mb >= HOME_MB  # random data: nothing compressed it away
    assert growth_mb < MAX_GROWTH_MB
