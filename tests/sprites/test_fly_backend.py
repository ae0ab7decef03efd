"""The fly backend against the fake Sprites API (which runs the real bridge as a service)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from sprites.backends import BridgeEnvironment, SpriteError, get_backend
from sprites.backends.fly import FlyBackend
from sprites.backends.fly_bootstrap import BRIDGE_SERVICE
from sprites.backends.selftest import run_selftest
from tests.support.fake_sprites_api import RunningFake

TOKEN = "fly-bridge-token"
SECRET = "fly-sekret-1a2b3c4d"


async def test_bootstrap_runs_the_bridge_as_a_service_behind_the_private_url(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    steps: list[str] = []

    async def progress(step: str, n: int, m: int) -> None:
        steps.append(f"{n}/{m} {step}")

    status = await fly_backend.bootstrap("fly-a", TOKEN, {"PROJECT_SECRET": SECRET}, progress)
    assert status.state == "running"
    assert steps[0] == "1/6 Creating the Sprite" and steps[-1] == "6/6 Waiting for the bridge"
    sprite = fake_api.state.sprites["fly-a"]
    assert sprite.url_settings == {"auth": "sprite"}
    service = sprite.services[BRIDGE_SERVICE]
    assert service.http_port == 8080
    assert service.env["PROJECT_SECRET"] == SECRET
    assert service.env["STARTER_BRIDGE_TOKEN"] == TOKEN
    assert service.env["STARTER_SECRET_NAMES"] == "PROJECT_SECRET"

    endpoint = await fly_backend.bridge_endpoint("fly-a", TOKEN)
    assert endpoint.base_url == sprite.url
    async with httpx.AsyncClient(base_url=endpoint.base_url) as client:
        assert (await client.get("/starter/state", headers=dict(endpoint.headers))).is_success
        # The URL is private: without the Sprites token the API turns us away...
        assert (await client.get("/starter/health")).status_code == 401
        # ...and the bridge wants its own token.
        sprites_only = {"Authorization": endpoint.headers["Authorization"]}
        assert (await client.get("/starter/state", headers=sprites_only)).status_code == 401

    found = subprocess.run(
        ["grep", "-r", "-l", SECRET, str(sprite.root)], capture_output=True, check=False
    )
    assert found.stdout == b""


async def test_bootstrap_twice_is_harmless(fly_backend: FlyBackend) -> None:
    await fly_backend.bootstrap("fly-a", TOKEN, {})
    started = time.monotonic()
    assert (await fly_backend.bootstrap("fly-a", TOKEN, {})).state == "running"
    assert time.monotonic() - started < 15


async def test_sleep_wake_and_new_environment(fake_api: RunningFake) -> None:
    """New values go to the running bridge (its service is not redefined: a PUT restarts
    it); the definition is renewed at the next wake, from the environment source."""
    current = {"PROJECT_SECRET": "old"}
    fly_backend = FlyBackend(
        token=fake_api.token,
        base_url=fake_api.base_url,
        environment_source=lambda name: BridgeEnvironment(TOKEN, dict(current)),
    )
    await fly_backend.bootstrap("fly-a", TOKEN, current)
    assert (await fly_backend.sleep("fly-a")).state == "stopped"
    assert (await fly_backend.sleep("fly-a")).state == "stopped"
    assert (await fly_backend.wake("fly-a")).state == "running"
    service = fake_api.state.sprites["fly-a"].services[BRIDGE_SERVICE]
    pid = service.process.pid if service.process else None
    current = {"PROJECT_SECRET": "new"}
    update = await fly_backend.set_environment("fly-a", TOKEN, current)
    assert update.applied == "now" and update.names == ("PROJECT_SECRET",)
    service = fake_api.state.sprites["fly-a"].services[BRIDGE_SERVICE]
    assert service.status == "running" and service.process and service.process.pid == pid
    assert await _bridge_exec(fly_backend, "echo $PROJECT_SECRET") == "new"
    # Not redefined yet: that would have restarted the bridge.
    assert service.env["PROJECT_SECRET"] == "old"
    # A bridge that crashes now is restarted by its keeper with the new values, not the
    # definition's.
    keeper = service.process.pid
    bridge = _child_of(keeper)
    os.kill(bridge, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while _child_of(keeper) in (None, bridge):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    await fly_backend._wait_until_healthy("fly-a")
    assert await _bridge_exec(fly_backend, "echo $PROJECT_SECRET") == "new"
    await fly_backend.sleep("fly-a")
    current = {"PROJECT_SECRET": "newer"}
    assert (await fly_backend.set_environment("fly-a", TOKEN, current)).applied == "next_start"
    assert fake_api.state.sprites["fly-a"].services[BRIDGE_SERVICE].status != "running"
    assert (await fly_backend.wake("fly-a")).state == "running"
    service = fake_api.state.sprites["fly-a"].services[BRIDGE_SERVICE]
    assert service.env["PROJECT_SECRET"] == "newer"
    assert await _bridge_exec(fly_backend, "echo $PROJECT_SECRET") == "newer"


def _child_of(pid: int) -> int | None:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0]) if children else None


async def _bridge_exec(fly_backend: FlyBackend, command: str) -> str:
    """A command run by the bridge itself (with the bridge's environment)."""
    endpoint = await fly_backend.bridge_endpoint("fly-a", TOKEN)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            endpoint.base_url + "/starter/exec",
            json={"command": command},
            headers=dict(endpoint.headers),
        )
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["stdout"]).decode().strip()


async def test_exec_reports_output_exit_code_and_env(fly_backend: FlyBackend) -> None:
    await fly_backend.create("fly-a")
    result = await fly_backend.exec(
        "fly-a", 'echo "$GREETING"; echo oops >&2; exit 300', timeout=20, env={"GREETING": "hi"}
    )
    # The exit code travels as one byte.
    assert (result.exit_code, result.stdout, result.stderr) == (300 % 256, b"hi\n", b"oops\n")


async def test_exec_timeout_is_enforced_in_the_sprite(fly_backend: FlyBackend) -> None:
    await fly_backend.create("fly-a")
    result = await fly_backend.exec("fly-a", ["sleep", "20"], timeout=1)
    assert result.timed_out


async def test_exec_dropped_before_exit_is_retryable(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    await fly_backend.create("fly-a")
    fake_api.state.faults.exec_drops = 1
    with pytest.raises(SpriteError) as dropped:
        await fly_backend.exec("fly-a", ["true"])
    assert dropped.value.retryable


async def test_rate_limited_create_is_retryable_with_the_wait(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    fake_api.state.faults.rate_limit_creates = 1
    fake_api.state.faults.retry_after_seconds = 12
    with pytest.raises(SpriteError) as limited:
        await fly_backend.create("fly-a")
    assert limited.value.retryable and limited.value.retry_after == 12
    assert "rate limiting" in limited.value.message
    assert (await fly_backend.create("fly-a")).state == "created"


async def test_a_refused_token_is_not_retryable(fake_api: RunningFake) -> None:
    backend = get_backend("fly", token="wrong/token", base_url=fake_api.base_url)
    with pytest.raises(SpriteError) as refused:
        await backend.list_sprites()
    assert not refused.value.retryable and "token" in refused.value.message


async def test_a_missing_sprite_is_missing_and_not_retryable(fly_backend: FlyBackend) -> None:
    assert (await fly_backend.status("nobody")).state == "missing"
    with pytest.raises(SpriteError) as missing:
        await fly_backend.read_file("nobody", "x.txt")
    assert not missing.value.retryable
    await fly_backend.destroy("nobody")


async def test_files_are_confined_to_the_home(fly_backend: FlyBackend) -> None:
    await fly_backend.create("fly-a")
    await fly_backend.write_file("fly-a", "/home/sprite/docs/a.md", b"# A")
    assert await fly_backend.read_file("fly-a", "docs/a.md") == b"# A"
    assert [(e.name, e.path) for e in await fly_backend.list_files("fly-a", "docs")] == [
        ("a.md", "docs/a.md")
    ]
    for path in ("../etc/passwd", "/etc/passwd", "docs/../../x"):
        with pytest.raises(SpriteError):
            await fly_backend.read_file("fly-a", path)
    with pytest.raises(SpriteError, match="no such file"):
        await fly_backend.read_file("fly-a", "docs/missing.md")


async def test_checkpoint_then_delete_then_restore_brings_the_file_back(
    fly_backend: FlyBackend,
) -> None:
    await fly_backend.create("fly-a")
    await fly_backend.write_file("fly-a", "app.py", b"v1")
    checkpoint = await fly_backend.create_checkpoint("fly-a", "first")
    assert (checkpoint.id, checkpoint.comment) == ("v1", "first")
    assert [c.id for c in await fly_backend.list_checkpoints("fly-a")] == ["v1"]
    await fly_backend.exec("fly-a", ["rm", "app.py"])
    await fly_backend.restore_checkpoint("fly-a", checkpoint.id)
    assert await fly_backend.read_file("fly-a", "app.py") == b"v1"


async def test_list_sprites_pages_through_everything(fly_backend: FlyBackend) -> None:
    for index in range(3):
        await fly_backend.create(f"fly-{index}")
    assert [info.name for info in await fly_backend.list_sprites()] == [
        "fly-0",
        "fly-1",
        "fly-2",
    ]


async def test_selftest_passes_against_the_fake(fly_backend: FlyBackend) -> None:
    lines = [line async for line in run_selftest(fly_backend, "selftest-fly")]
    assert [line.split()[1] for line in lines] == ["create", "exec", "write", "create", "destroy"]
