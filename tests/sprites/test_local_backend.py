"""The local backend, with the real bridge (``python -m bridge_agent``) as the Sprite's process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from sprites.backends import SpriteError, processes, run_sync
from sprites.backends.base import BridgeEnvironment
from sprites.backends.local import LocalBackend
from sprites.backends.sandbox import bubblewrap_path
from sprites.backends.selftest import run_selftest

TOKEN = "bridge-token-for-tests"
SECRET = "sekret-value-9f8e7d6c"


def _pid(backend: LocalBackend, name: str) -> int:
    return int((backend.sprite_dir(name) / "run" / "bridge.pid").read_text())


async def test_bootstrap_brings_a_healthy_bridge_that_wants_its_token(
    local_backend: LocalBackend,
) -> None:
    steps: list[tuple[str, int, int]] = []
    status = await local_backend.bootstrap(
        "alpha", TOKEN, {}, progress=lambda step, n, m: steps.append((step, n, m))
    )
    assert status.state == "running"
    assert [n for _, n, _ in steps] == [1, 2, 3] and steps[0][2] == 3
    endpoint = await local_backend.bridge_endpoint("alpha", TOKEN)
    async with httpx.AsyncClient(base_url=endpoint.base_url) as client:
        assert (await client.get("/starter/health")).status_code == 200
        assert (await client.get("/starter/state")).status_code == 401
        answered = await client.get("/starter/state", headers=dict(endpoint.headers))
        assert answered.status_code == 200


async def test_sleep_then_wake_keeps_files_and_wakes_in_under_two_seconds(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {})
    await local_backend.write_file("alpha", "notes/todo.txt", b"keep me")
    old_pid = _pid(local_backend, "alpha")
    assert (await local_backend.sleep("alpha")).state == "stopped"
    assert not processes.is_alive(old_pid)
    started = time.monotonic()
    status = await local_backend.wake("alpha")
    assert time.monotonic() - started < 2.0
    assert status.state == "running"
    assert await local_backend.read_file("alpha", "notes/todo.txt") == b"keep me"


async def test_destroy_removes_the_directory_and_leaves_no_process(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {})
    pid = _pid(local_backend, "alpha")
    tree = processes.process_tree(pid)
    assert tree
    await local_backend.destroy("alpha")
    assert not local_backend.sprite_dir("alpha").exists()
    assert [p for p in tree if processes.is_alive(p)] == []
    home = str(local_backend.home("alpha"))
    assert [p for p in _all_pids() if home in _cmdline(p)] == []
    assert (await local_backend.status("alpha")).state == "missing"


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


async def test_exec_runs_in_the_home_with_the_sprite_environment(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {"PROJECT_SECRET": SECRET})
    result = await local_backend.exec(
        "alpha", 'pwd; printenv PROJECT_SECRET; echo "$EXTRA"; echo err >&2; exit 7',
        timeout=10, env={"EXTRA": "extra-value"},
    )  # fmt: skip
    lines = result.stdout.decode().splitlines()
    assert Path(lines[0]).resolve() == local_backend.home("alpha").resolve()
    assert lines[1:] == [SECRET, "extra-value"]
    assert (result.exit_code, result.stderr, result.timed_out) == (7, b"err\n", False)


async def test_exec_does_not_leak_the_control_plane_environment(
    local_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STARTER_SPRITES_TOKEN", "platform-secret")
    await local_backend.bootstrap("alpha", TOKEN, {})
    result = await local_backend.exec("alpha", ["printenv", "STARTER_SPRITES_TOKEN"], timeout=10)
    assert result.exit_code == 1 and result.stdout == b""


async def test_exec_needs_a_running_sprite(local_backend: LocalBackend) -> None:
    await local_backend.create("alpha")
    with pytest.raises(SpriteError, match="not running") as raised:
        await local_backend.exec("alpha", ["true"], timeout=10)
    assert raised.value.retryable


async def test_exec_timeout_stops_the_command(local_backend: LocalBackend) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {})
    started = time.monotonic()
    result = await local_backend.exec("alpha", "sleep 30 & sleep 30", timeout=0.5)
    assert result.timed_out and not result.ok
    assert time.monotonic() - started < 5


async def test_secret_values_stay_out_of_the_home_and_the_logs(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {"PROJECT_SECRET": SECRET})
    printed = await local_backend.exec("alpha", "printenv PROJECT_SECRET", timeout=10)
    assert printed.stdout.strip() == SECRET.encode()
    await local_backend.sleep("alpha")
    await local_backend.wake("alpha")
    found = subprocess.run(
        ["grep", "-r", "-l", SECRET, str(local_backend.sprite_dir("alpha"))],
        capture_output=True, check=False,
    )  # fmt: skip
    assert found.stdout == b"", found.stdout
    found = subprocess.run(
        ["grep", "-r", "-l", TOKEN, str(local_backend.sprite_dir("alpha"))],
        capture_output=True, check=False,
    )  # fmt: skip
    assert found.stdout == b"", found.stdout


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "notes/../../outside.txt", "/etc/passwd", "/tmp/outside.txt", "escape/x"],
)
async def test_files_outside_the_home_are_refused(local_backend: LocalBackend, path: str) -> None:
    await local_backend.create("alpha")
    (local_backend.home("alpha") / "escape").symlink_to("/etc")
    with pytest.raises(SpriteError) as refused:
        await local_backend.read_file("alpha", path)
    assert not refused.value.retryable
    with pytest.raises(SpriteError):
        await local_backend.write_file("alpha", path, b"x")


async def test_a_symlink_out_of_the_home_is_refused_even_for_a_new_file(
    local_backend: LocalBackend, tmp_path: Path
) -> None:
    await local_backend.create("alpha")
    (local_backend.home("alpha") / "link.txt").symlink_to(tmp_path / "target.txt")
    with pytest.raises(SpriteError, match=r"outside|symbolic link"):
        await local_backend.write_file("alpha", "link.txt", b"x")
    assert not (tmp_path / "target.txt").exists()


async def test_files_inside_the_home_by_relative_or_absolute_path(
    local_backend: LocalBackend,
) -> None:
    await local_backend.create("alpha")
    home = local_backend.home("alpha")
    await local_backend.write_file("alpha", str(home / "dir" / "a.txt"), b"A")
    assert await local_backend.read_file("alpha", "dir/a.txt") == b"A"
    entries = await local_backend.list_files("alpha", "dir")
    assert [(e.name, e.path, e.is_dir, e.size) for e in entries] == [
        ("a.txt", "dir/a.txt", False, 1)
    ]


async def test_checkpoint_then_delete_then_restore_brings_the_file_back(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {})
    await local_backend.write_file("alpha", "app/main.py", b"print('v1')")
    checkpoint = await local_backend.create_checkpoint("alpha", "before the change")
    assert [(c.id, c.comment) for c in await local_backend.list_checkpoints("alpha")] == [
        (checkpoint.id, "before the change")
    ]
    (local_backend.home("alpha") / "app" / "main.py").unlink()
    status = await local_backend.restore_checkpoint("alpha", checkpoint.id)
    assert status.state == "running"
    assert await local_backend.read_file("alpha", "app/main.py") == b"print('v1')"
    with pytest.raises(SpriteError, match="No checkpoint"):
        await local_backend.restore_checkpoint("alpha", "v99")


async def test_supervise_restarts_a_bridge_that_died(local_backend: LocalBackend) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {})
    os.killpg(_pid(local_backend, "alpha"), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while (await local_backend.status("alpha")).state != "failed":
        assert time.monotonic() < deadline
    assert await local_backend.supervise() == ["alpha"]
    assert (await local_backend.status("alpha")).state == "running"


async def test_set_environment_hands_new_values_to_the_running_bridge_without_a_restart(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {"PROJECT_SECRET": "old", "REMOVED": "gone"})
    keeper_pid = _pid(local_backend, "alpha")
    bridge = _bridge_python_pid(keeper_pid)
    environ = Path(f"/proc/{bridge}/environ").read_bytes().split(b"\0")
    assert b"STARTER_SECRET_NAMES=PROJECT_SECRET,REMOVED" in environ
    assert b"STARTER_ENVIRONMENT_NAMES=PROJECT_SECRET,REMOVED" in environ
    update = await local_backend.set_environment("alpha", TOKEN, {"PROJECT_SECRET": "new"})
    assert update.applied == "now" and update.names == ("PROJECT_SECRET", "REMOVED")
    # Nothing was restarted: the same keeper, the same bridge.
    assert _pid(local_backend, "alpha") == keeper_pid and _bridge_python_pid(keeper_pid) == bridge
    shown = 'echo "$PROJECT_SECRET ${REMOVED-unset}"'
    assert (await local_backend.exec("alpha", shown)).stdout == b"new unset\n"
    # A bridge that dies now comes back (through its keeper, in the sandbox) with them.
    os.kill(bridge, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not processes.is_alive(keeper_pid) or _bridge_pid_or_none(keeper_pid) in (None, bridge):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (await local_backend.exec("alpha", shown)).stdout == b"new unset\n"


def _bridge_pid_or_none(pid: int) -> int | None:
    try:
        return _bridge_python_pid(pid)
    except AssertionError:
        return None


async def test_set_environment_on_a_sleeping_sprite_applies_at_wake(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {"PROJECT_SECRET": "old"})
    await local_backend.sleep("alpha")
    update = await local_backend.set_environment("alpha", TOKEN, {"PROJECT_SECRET": "new"})
    assert update.applied == "next_start"
    assert (await local_backend.status("alpha")).state == "stopped"  # not woken for it
    await local_backend.wake("alpha")
    assert (await local_backend.exec("alpha", "echo $PROJECT_SECRET")).stdout == b"new\n"


def _bridge_python_pid(pid: int) -> int:
    """The bridge's Python process (under bwrap and its keeper, a descendant of ``pid``)."""
    for candidate in processes.process_tree(pid):
        command = _cmdline(candidate)
        if "-m bridge_agent " in command and "bwrap" not in command:
            return candidate
    raise AssertionError("no bridge process")


async def test_a_killed_bridge_is_restarted_by_its_keeper_at_once(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {})
    endpoint = await local_backend.bridge_endpoint("alpha", TOKEN)
    bridge = _bridge_python_pid(_pid(local_backend, "alpha"))
    killed = time.monotonic()
    os.kill(bridge, signal.SIGKILL)
    async with httpx.AsyncClient(timeout=10) as client:
        # Asked while the bridge is down: it waits on the keeper's socket, then is served.
        response = await client.get(endpoint.base_url + "/starter/health")
    assert response.status_code == 200
    assert time.monotonic() - killed < 3.0
    assert _bridge_python_pid(_pid(local_backend, "alpha")) != bridge
    assert (await local_backend.status("alpha")).state == "running"
    assert await local_backend.supervise() == []  # nothing left for the slow supervisor
    log = local_backend.log_path("alpha").read_text()
    assert "ERROR bridge_agent.keeper: the bridge" in log and "killed by SIGKILL" in log


async def test_a_new_process_wakes_a_sprite_with_the_environment_source(data_dir: Path) -> None:
    first = LocalBackend(data_dir, bridge_arguments=["--no-prewarm"])
    await first.bootstrap("alpha", TOKEN, {"PROJECT_SECRET": SECRET})
    await first.sleep("alpha")
    asked: list[str] = []

    async def environment_source(name: str) -> BridgeEnvironment:
        asked.append(name)
        return BridgeEnvironment(TOKEN, {"PROJECT_SECRET": SECRET})

    second = LocalBackend(
        data_dir, environment_source=environment_source, bridge_arguments=["--no-prewarm"]
    )
    try:
        assert (await second.wake("alpha")).state == "running"
        assert asked and asked[0] == "alpha"
        without_source = LocalBackend(data_dir)
        await second.sleep("alpha")
        with pytest.raises(SpriteError, match="environment"):
            await without_source.wake("alpha")
    finally:
        await second.destroy("alpha")


@pytest.mark.skipif(bubblewrap_path() is None, reason="bubblewrap cannot sandbox here")
async def test_one_sprite_cannot_read_another_sprites_files(local_backend: LocalBackend) -> None:
    await local_backend.bootstrap("alpha", TOKEN, {})
    await local_backend.create("beta")
    await local_backend.write_file("beta", "private.txt", b"beta only")
    beta_file = local_backend.home("beta") / "private.txt"
    result = await local_backend.exec("alpha", ["cat", str(beta_file)], timeout=10)
    assert result.exit_code != 0 and b"beta only" not in result.stdout
    listing = await local_backend.exec("alpha", ["ls", str(local_backend.sprites_dir)], timeout=10)
    assert b"beta" not in listing.stdout


@pytest.mark.skipif(bubblewrap_path() is None, reason="bubblewrap cannot sandbox here")
async def test_a_sprite_cannot_see_other_processes_environment(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap("beta", TOKEN, {"PROJECT_SECRET": SECRET})
    await local_backend.bootstrap("alpha", TOKEN, {})
    result = await local_backend.exec(
        "alpha", "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'", timeout=10
    )
    assert SECRET.encode() not in result.stdout


def test_run_sync_drives_the_backend_from_synchronous_code(data_dir: Path) -> None:
    backend = LocalBackend(data_dir)
    assert run_sync(backend.create("alpha")).state == "created"
    assert [info.name for info in run_sync(backend.list_sprites())] == ["alpha"]
    run_sync(backend.destroy("alpha"))


async def test_run_sync_from_a_thread_that_runs_a_loop_uses_a_helper_thread(
    data_dir: Path,
) -> None:
    # Synchronous helpers are reached from threads with a running loop (the browser tests'
    # Playwright thread): the call still completes, on a loop of its own.
    backend = LocalBackend(data_dir)
    assert run_sync(backend.create("alpha")).state == "created"
    assert [info.name for info in run_sync(backend.list_sprites())] == ["alpha"]
    run_sync(backend.destroy("alpha"))


async def test_invalid_names_are_refused(local_backend: LocalBackend) -> None:
    for name in ("../x", "UPPER", "", "a" * 64, "-dash"):
        with pytest.raises(SpriteError, match="Invalid Sprite name"):
            await local_backend.create(name)


async def test_selftest_passes_on_the_local_backend(local_backend: LocalBackend) -> None:
    lines = [line async for line in run_selftest(local_backend, "selftest-local")]
    assert len(lines) == 5 and all(line.startswith("ok") for line in lines)
    assert (await local_backend.status("selftest-local")).state == "missing"


def test_secret_names_that_would_break_the_sprite_are_refused() -> None:
    from sprites.backends.base import environment_name_problem

    assert environment_name_problem("STRIPE_API_KEY") is None
    for name in ("PATH", "STARTER_BRIDGE_TOKEN", "1ABC", "A-B", "LD_PRELOAD"):
        assert environment_name_problem(name) is not None


@pytest.mark.skipif(bubblewrap_path() is None, reason="bubblewrap cannot sandbox here")
async def test_a_sprite_cannot_read_the_control_planes_keys_in_the_data_dir(
    local_backend: LocalBackend, data_dir: Path
) -> None:
    (data_dir / "encryption_key").write_text("control-plane-key")
    await local_backend.bootstrap("alpha", TOKEN, {})
    result = await local_backend.exec("alpha", ["cat", str(data_dir / "encryption_key")])
    assert result.exit_code != 0 and b"control-plane-key" not in result.stdout
