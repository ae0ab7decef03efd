"""Issue 15 acceptance 5 on both backends: checkpoint, chat on, restore; the trace still holds
every line written before the restore and marks it, pi resumes the session on top of the
marker, and the event log goes on (no id goes back, so no reader's cursor is left ahead).

Real bridge and pi against the scripted model: a local Sprite, and a fly Sprite of the fake
Sprites API (its files API carries the kept files)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bridge_agent import protocol
from sprites.backends.base import SpriteBackend, SpriteError
from sprites.backends.fly import FlyBackend
from sprites.backends.local import LocalBackend
from tests.support.fixtures import scripted_model_server
from tests.support.model_server import ScriptedModelServer, pi_config_files

__all__ = ["scripted_model_server"]

TOKEN = "restore-bridge-token"
NAME = "restore-a"


async def _bridge(backend: SpriteBackend) -> httpx.AsyncClient:
    endpoint = await backend.bridge_endpoint(NAME, TOKEN)
    return httpx.AsyncClient(base_url=endpoint.base_url, headers=dict(endpoint.headers), timeout=60)


async def ask(backend: SpriteBackend, message: str) -> dict[str, Any]:
    """Prompt the bridge and return the run's ``agent_end`` data once pi has settled."""
    async with await _bridge(backend) as client:
        after = (await client.get("/starter/state")).json()["last_event_id"]
        async with client.stream("GET", f"/starter/events?after={after}") as stream:
            answer = await client.post("/starter/prompt", json={"message": message})
            assert answer.status_code == 202, answer.text
            end: dict[str, Any] = {}
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["type"] == "agent_end":
                        end = event["data"]
                    if event["type"] == "agent_settled":
                        return end
    raise AssertionError("the stream ended before the run")


async def events_after(backend: SpriteBackend, after: int) -> list[dict[str, Any]]:
    async with await _bridge(backend) as client:
        answer = await client.get(f"/starter/events?after={after}&replay_only=1")
    return [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:")]


async def trace(backend: SpriteBackend, session_id: str) -> bytes:
    async with await _bridge(backend) as client:
        answer = await client.get(protocol.session_trace_path(session_id))
        assert answer.status_code == 200, answer.text
        return answer.content


async def state(backend: SpriteBackend) -> dict[str, Any]:
    async with await _bridge(backend) as client:
        return dict((await client.get("/starter/state")).json())


async def _restore_keeps_the_trace(backend: SpriteBackend, model: ScriptedModelServer) -> None:
    await backend.create(NAME)
    for path, content in pi_config_files(model.base_url).items():
        await backend.write_file(NAME, path, content)
    await backend.bootstrap(NAME, TOKEN, {})

    await ask(backend, "[[reply: before the checkpoint]]")
    checkpoint = await backend.create_checkpoint(NAME, "first answer in")
    await ask(backend, "[[reply: after the checkpoint]]")
    await backend.write_file(NAME, "notes.txt", b"written after the checkpoint")
    before = await state(backend)
    session_id, last_event_id = before["session_id"], before["last_event_id"]
    written = await trace(backend, session_id)
    assert b"after the checkpoint" in written

    await backend.restore_checkpoint(NAME, checkpoint.id)

    # The files went back...
    with pytest.raises(SpriteError, match=r"notes\.txt|no such file|No file"):
        await backend.read_file(NAME, "notes.txt")
    # ...the trace did not: every line is there, then the marker, in pi's entry shape.
    kept = await trace(backend, session_id)
    assert kept.startswith(written)
    marker = json.loads(kept[len(written) :].decode().strip())
    last_entry = json.loads(written.decode().strip().splitlines()[-1])
    assert marker["type"] == "custom"
    assert marker["customType"] == protocol.CHECKPOINT_RESTORE_ENTRY
    assert marker["parentId"] == last_entry["id"]
    assert marker["data"]["checkpoint_id"] == checkpoint.id
    assert marker["data"]["comment"] == "first answer in"
    assert isinstance(marker["id"], str) and isinstance(marker["timestamp"], str)

    # The event log went on from where it was, and says what happened.
    restored = [e for e in await events_after(backend, last_event_id)]
    announced = [e for e in restored if e["type"] == protocol.EVENT_CHECKPOINT_RESTORED]
    assert [e["type"] for e in restored if e["type"] == "reset"] == []
    assert len(announced) == 1 and announced[0]["id"] > last_event_id
    assert announced[0]["data"]["kept_sessions"] == [session_id]
    assert announced[0]["data"]["checkpoint_id"] == checkpoint.id

    # pi resumes the session on top of the marker, with the whole conversation.
    end = await ask(backend, "[[reply: after the restore]]")
    assert not end.get("interrupted")
    resumed = await trace(backend, session_id)
    assert resumed.startswith(kept)
    new_entries = [json.loads(line) for line in resumed[len(kept) :].decode().splitlines()]
    assert new_entries[0]["parentId"] == marker["id"]
    async with await _bridge(backend) as client:
        messages = (await client.get("/starter/messages")).json()["messages"]
    said = json.dumps(messages)
    for text in ("before the checkpoint", "after the checkpoint", "after the restore"):
        assert text in said


async def test_local_restore_keeps_the_trace_and_marks_it(
    local_backend: LocalBackend, scripted_model_server: ScriptedModelServer
) -> None:
    await _restore_keeps_the_trace(local_backend, scripted_model_server)


async def test_fly_restore_keeps_the_trace_and_marks_it(
    fly_backend: FlyBackend, scripted_model_server: ScriptedModelServer
) -> None:
    await _restore_keeps_the_trace(fly_backend, scripted_model_server)


# -- a hostile Sprite's session folder -----------------------------------------------------------

SESSIONS = ".pi/sessions"
HEADER = b'{"type":"session","version":3,"id":"chat-1","timestamp":"2026-11-30T10:00:00.000Z"}\n'


def _entry(entry_id: str, parent: str | None) -> bytes:
    line = {"type": "message", "id": entry_id, "parentId": parent, "timestamp": "t"}
    return json.dumps(line).encode() + b"\n"


def _plant_link(backend: LocalBackend, relative: str, target: str) -> None:
    """A symbolic link made by the Sprite (its uid owns it)."""
    import os

    link = backend.home(NAME) / relative
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)
    uid = backend.uid(NAME)
    if uid is not None:
        os.lchown(link, uid, uid)


def _outside(backend: LocalBackend, name: str, content: bytes) -> Any:
    """A file of the control plane's machine, beside (not in) the Sprite's home."""
    path = backend.sprite_dir(NAME).parent.parent / name
    path.write_bytes(content)
    return path


async def test_links_out_of_the_home_are_neither_read_nor_written(
    local_backend: LocalBackend,
) -> None:
    await local_backend.create(NAME)
    await local_backend.write_file(NAME, f"{SESSIONS}/2026_chat-1.jsonl", HEADER)
    outside = _outside(local_backend, "host-secret.jsonl", HEADER + b'{"secret": "host-only"}\n')
    _plant_link(local_backend, f"{SESSIONS}/2026_evil.jsonl", str(outside))
    _plant_link(local_backend, f"{SESSIONS}/2026_passwd.jsonl", "/etc/passwd")
    # A session that is a link in the checkpoint, and a plain (longer) file by the restore.
    _plant_link(local_backend, f"{SESSIONS}/2026_swap.jsonl", str(outside))
    checkpoint = await local_backend.create_checkpoint(NAME, "with links")
    (local_backend.home(NAME) / SESSIONS / "2026_swap.jsonl").unlink()
    await local_backend.write_file(NAME, f"{SESSIONS}/2026_swap.jsonl", HEADER * 50)
    await local_backend.write_file(
        NAME, f"{SESSIONS}/2026_chat-1.jsonl", HEADER + _entry("a1", None)
    )
    outside_before = outside.read_bytes()

    await local_backend.restore_checkpoint(NAME, checkpoint.id)

    assert outside.read_bytes() == outside_before
    home = local_backend.home(NAME)
    assert (home / SESSIONS / "2026_swap.jsonl").is_symlink()  # the restored link, untouched
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b"host-only" not in path.read_bytes(), path
            assert b"root:x:0:0" not in path.read_bytes(), path
    kept = (home / SESSIONS / "2026_chat-1.jsonl").read_bytes()
    assert kept.startswith(HEADER + _entry("a1", None))
    assert json.loads(kept.splitlines()[-1])["parentId"] == "a1"


async def test_sessions_folder_that_is_a_link_out_is_left_alone(
    local_backend: LocalBackend,
) -> None:
    await local_backend.create(NAME)
    outside_dir = _outside(local_backend, "placeholder", b"").parent / "host-sessions"
    outside_dir.mkdir()
    (outside_dir / "2026_host.jsonl").write_bytes(HEADER)
    await local_backend.write_file(NAME, ".pi/keep.txt", b"")
    _plant_link(local_backend, SESSIONS, str(outside_dir))
    checkpoint = await local_backend.create_checkpoint(NAME, "")
    await local_backend.restore_checkpoint(NAME, checkpoint.id)
    assert [p.name for p in outside_dir.iterdir()] == ["2026_host.jsonl"]
    assert (outside_dir / "2026_host.jsonl").read_bytes() == HEADER


async def test_huge_session_files_are_not_kept_and_do_not_stop_the_restore(
    local_backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sprites.backends import restore_keeping

    monkeypatch.setattr(restore_keeping, "MAX_FILE_BYTES", 4096)
    await local_backend.create(NAME)
    await local_backend.write_file(NAME, f"{SESSIONS}/2026_big.jsonl", HEADER)
    await local_backend.write_file(NAME, f"{SESSIONS}/2026_small.jsonl", HEADER)
    checkpoint = await local_backend.create_checkpoint(NAME, "")
    await local_backend.write_file(NAME, f"{SESSIONS}/2026_big.jsonl", HEADER * 200)
    await local_backend.write_file(
        NAME, f"{SESSIONS}/2026_small.jsonl", HEADER + _entry("s1", None)
    )
    await local_backend.restore_checkpoint(NAME, checkpoint.id)
    home = local_backend.home(NAME)
    assert (home / SESSIONS / "2026_big.jsonl").read_bytes() == HEADER  # the checkpoint's
    small = (home / SESSIONS / "2026_small.jsonl").read_bytes()
    assert json.loads(small.splitlines()[-1])["customType"] == protocol.CHECKPOINT_RESTORE_ENTRY


async def test_non_json_lines_are_kept_and_the_marker_follows_the_last_entry(
    local_backend: LocalBackend,
) -> None:
    await local_backend.create(NAME)
    start = HEADER + _entry("aaaa1111", None)
    await local_backend.write_file(NAME, f"{SESSIONS}/2026_chat-1.jsonl", start)
    checkpoint = await local_backend.create_checkpoint(NAME, "")
    later = start + b"not json at all\n" + _entry("bbbb2222", "aaaa1111") + b'{"id": "../x"}\n{cut'
    await local_backend.write_file(NAME, f"{SESSIONS}/2026_chat-1.jsonl", later)
    await local_backend.restore_checkpoint(NAME, checkpoint.id)
    kept = (local_backend.home(NAME) / SESSIONS / "2026_chat-1.jsonl").read_bytes()
    assert kept.startswith(later + b"\n")
    marker = json.loads(kept.splitlines()[-1])
    assert marker["parentId"] == "bbbb2222"
    note = json.loads((local_backend.home(NAME) / protocol.CHECKPOINT_RESTORE_NOTE).read_bytes())
    assert note["kept_sessions"] == ["chat-1"]


async def test_event_log_too_large_to_keep_goes_on_above_the_floor(
    local_backend: LocalBackend,
    scripted_model_server: ScriptedModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback: the log is the checkpoint's, but its ids go on above what readers saw,
    so no reader's cursor points at an id another event gets later."""
    from sprites.backends import restore_keeping

    monkeypatch.setattr(restore_keeping, "MAX_EVENT_LOG_BYTES", 1024)
    backend = local_backend
    await backend.create(NAME)
    for path, content in pi_config_files(scripted_model_server.base_url).items():
        await backend.write_file(NAME, path, content)
    await backend.bootstrap(NAME, TOKEN, {})
    await ask(backend, "[[reply: one]]")
    checkpoint = await backend.create_checkpoint(NAME, "")
    await ask(backend, "[[reply: two]]")
    last_event_id = (await state(backend))["last_event_id"]
    await backend.restore_checkpoint(NAME, checkpoint.id, event_id_floor=last_event_id + 1000)
    after = await events_after(backend, 0)
    announced = [e for e in after if e["type"] == protocol.EVENT_CHECKPOINT_RESTORED]
    assert len(announced) == 1 and announced[0]["id"] > last_event_id + 1000
    # Nothing written since the restore took an id between what readers saw and the floor.
    assert [e["id"] for e in after if last_event_id < e["id"] <= last_event_id + 1000] == []
