"""The fake Sprites API passes a run of the real sprites-py 0.7.2 SDK, sync and async."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from sprites.backends.local import PROJECT_ROOT
from sprites.backends.sdk import load_sdk_module
from tests.support.fake_sprites_api import RunningFake
from tests.support.fake_sprites_state import free_port


def test_sync_sdk_sprite_lifecycle(fake_api: RunningFake, sdk: ModuleType) -> None:
    with sdk.SpritesClient(fake_api.token, base_url=fake_api.base_url) as client:
        created = client.create_sprite(
            "sdk-sync", url_settings=sdk.URLSettings(auth="sprite"), labels=["test"]
        )
        assert created.name == "sdk-sync"
        fetched = client.get_sprite("sdk-sync")
        assert fetched.status == "cold"
        assert fetched.url and fetched.url_settings.auth == "sprite"
        listed = client.list_sprites(sdk.ListOptions(prefix="sdk-"))
        assert [s.name for s in listed.sprites] == ["sdk-sync"]
        assert listed.cold == 1 and listed.has_more is False
        updated = client.update_sprite("sdk-sync", labels=["a", "b"])
        assert updated.labels == ["a", "b"]
        client.delete_sprite("sdk-sync")
        with pytest.raises(sdk.NotFoundError):
            client.get_sprite("sdk-sync")


def test_sync_sdk_bad_token_is_an_authentication_error(
    fake_api: RunningFake, sdk: ModuleType
) -> None:
    with sdk.SpritesClient("wrong", base_url=fake_api.base_url) as client:
        with pytest.raises(sdk.AuthenticationError):
            client.list_sprites()


def test_sync_sdk_exec_files_checkpoints_services_policy(
    fake_api: RunningFake, sdk: ModuleType
) -> None:
    with sdk.SpritesClient(fake_api.token, base_url=fake_api.base_url) as client:
        sprite = client.create_sprite("sdk-all")
        result = sprite.run(
            "sh", "-c", "echo out; echo err >&2; exit 3", capture_output=True, timeout=30
        )
        assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
        assert sprite.command("echo", "hi").output() == b"hi\n"
        with pytest.raises(sdk.ExecError) as failure:
            sprite.command("sh", "-c", "exit 300").run()
        assert failure.value.exit_code() == 300 % 256
        env_result = sprite.run(
            "sh", "-c", "echo $GREETING", env={"GREETING": "hello"}, capture_output=True
        )
        assert env_result.stdout == b"hello\n"

        fs = sprite.filesystem("/home/sprite")
        (fs / "dir/note.txt").write_text("written")
        assert (fs / "dir/note.txt").read_text() == "written"
        assert (fs / "dir").listdir() == ["note.txt"]
        assert (fs / "dir/note.txt").stat().size == 7
        assert (fs / "dir/note.txt").is_file()
        with pytest.raises(sdk.FileNotFoundError_):
            (fs / "missing.txt").read_bytes()
        (fs / "dir/note.txt").unlink()
        assert not (fs / "dir/note.txt").exists()
        (fs / "made").mkdir(parents=True)
        (fs / "made/x").write_text("x")
        (fs / "made").rmtree()
        assert not (fs / "made/x").exists()

        (fs / "keep.txt").write_text("v1")
        messages = list(sprite.create_checkpoint("first"))
        assert messages[-1].type == "complete"
        checkpoints = sprite.list_checkpoints()
        ids = [c.id for c in checkpoints]
        assert "Current" in ids and "v1" in ids
        assert sprite.get_checkpoint("v1").comment == "first"
        (fs / "keep.txt").unlink()
        assert [m.type for m in sprite.restore_checkpoint("v1")][-1] == "complete"
        assert (fs / "keep.txt").read_text() == "v1"

        events = list(sprite.create_service("sleeper", "sleep", ["60"], http_port=8080))
        assert events[0].type == "started"
        services = sprite.list_services()
        assert services[0].name == "sleeper" and services[0].state.status == "running"
        apierror = load_sdk_module("exceptions").APIError
        with pytest.raises(apierror) as conflict:
            sprite.create_service("second", "sleep", ["60"], http_port=8081)
        assert conflict.value.status_code == 409
        assert list(sprite.stop_service("sleeper"))[-1].type == "complete"
        assert sprite.get_service("sleeper").state.status == "stopped"
        with pytest.raises(apierror) as not_running:
            sprite.stop_service("sleeper")
        assert not_running.value.status_code == 409
        assert next(iter(sprite.start_service("sleeper"))).type == "started"
        sprite.delete_service("sleeper")
        with pytest.raises(apierror) as gone:
            sprite.get_service("sleeper")
        assert gone.value.status_code == 404

        policy = sprite.get_network_policy()
        assert policy.rules
        sprite.update_network_policy(
            sdk.NetworkPolicy(rules=[sdk.PolicyRule(domain="*.example.com", action="allow")])
        )
        assert sprite.get_network_policy().rules[0].domain == "*.example.com"
        sprite.delete()


async def test_async_sdk_covers_the_same_calls(fake_api: RunningFake, sdk: ModuleType) -> None:
    async with sdk.AsyncSpritesClient(fake_api.token, base_url=fake_api.base_url) as client:
        sprite = await client.create_sprite("sdk-async")
        assert (await client.get_sprite("sdk-async")).name == "sdk-async"
        assert [s.name for s in (await client.list_sprites()).sprites] == ["sdk-async"]
        await client.update_sprite("sdk-async", labels=["x"])

        result = await sprite.run("sh", "-c", "echo a; echo b >&2; exit 5", capture_output=True)
        assert (result.returncode, result.stdout, result.stderr) == (5, b"a\n", b"b\n")
        fs = sprite.filesystem("/home/sprite")
        await (fs / "f.txt").write_bytes(b"bytes")
        assert await (fs / "f.txt").read_bytes() == b"bytes"
        assert [p.name async for p in fs.cwd.iterdir()] == ["f.txt"]
        assert await (fs / "f.txt").is_file()
        await (fs / "f.txt").unlink()

        await sprite.create_checkpoint("async")
        assert "v1" in [c.id for c in await sprite.list_checkpoints()]
        await sprite.restore_checkpoint("v1")

        await sprite.create_service("sleeper", "sleep", ["60"])
        assert (await sprite.get_service("sleeper")).state.status == "running"
        await sprite.stop_service("sleeper")
        await sprite.start_service("sleeper")
        assert [s.name for s in await sprite.list_services()] == ["sleeper"]
        await sprite.delete_service("sleeper")

        await sprite.update_network_policy(
            sdk.NetworkPolicy(rules=[sdk.PolicyRule(domain="pypi.org", action="allow")])
        )
        assert (await sprite.get_network_policy()).rules[0].domain == "pypi.org"
        await client.delete_sprite("sdk-async")
        with pytest.raises(sdk.NotFoundError):
            await client.get_sprite("sdk-async")


def test_sync_sdk_sees_crash_backoff_logs_and_hibernation(
    fake_api: RunningFake, sdk: ModuleType
) -> None:
    import httpx

    with sdk.SpritesClient(fake_api.token, base_url=fake_api.base_url) as client:
        sprite = client.create_sprite("sdk-svc")
        sprite.create_service("crasher", "sh", ["-c", "echo boom; exit 1"])
        deadline = time.monotonic() + 10
        state = sprite.get_service("crasher").state
        while not (state.restart_count >= 1 and state.next_restart_at is not None):
            assert time.monotonic() < deadline, state
            time.sleep(0.1)
            state = sprite.get_service("crasher").state
        assert state.status == "failed" and state.pid is None
        logs = httpx.get(
            f"{fake_api.base_url}/v1/sprites/sdk-svc/services/crasher/logs?lines=1",
            headers={"Authorization": f"Bearer {fake_api.token}"},
        )
        assert "boom" in next(line for line in logs.text.splitlines() if '"stdout"' in line)
        sprite.delete_service("crasher")

        sprite.create_service("sleeper", "sleep", ["600"])
        fake_api.state.make_cold(fake_api.state.sprites["sdk-svc"])
        assert client.get_sprite("sdk-svc").status == "cold"  # reading does not wake it
        assert fake_api.state.sprites["sdk-svc"].services["sleeper"].process is None
        # Using it does, and its services run again.
        assert sprite.get_service("sleeper").state.status == "running"
        restarted = httpx.post(
            f"{fake_api.base_url}/v1/sprites/sdk-svc/services/sleeper/restart",
            headers={"Authorization": f"Bearer {fake_api.token}"},
        )
        assert restarted.status_code == 200 and '"started"' in restarted.text


async def test_exec_closed_before_exit_is_a_network_error(
    fake_api: RunningFake, sdk: ModuleType
) -> None:
    async with sdk.AsyncSpritesClient(fake_api.token, base_url=fake_api.base_url) as client:
        sprite = await client.create_sprite("sdk-drop")
        fake_api.state.faults.exec_drops = 1
        with pytest.raises(sdk.NetworkError, match="closed before receiving command exit"):
            await sprite.run("echo", "hi", capture_output=True)


def test_the_fake_runs_from_the_command_line(tmp_path: Path) -> None:
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_sprites_api", "--port", str(port),
         "--token", "cli-token", "--data-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/sprites",
                    headers={"Authorization": "Bearer cli-token"},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["sprites"] == []
        refused = httpx.get(f"http://127.0.0.1:{port}/v1/sprites")
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_sdk_and_the_django_app_named_sprites_live_side_by_side(sdk: ModuleType) -> None:
    import sprites

    assert Path(sprites.__file__).parent == PROJECT_ROOT / "sprites"
    assert sdk.__version__ == "0.7.2"
