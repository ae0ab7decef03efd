"""An archived session comes back whole; a name, link or FIFO the agent planted in the archive
or in pi's folder moves nothing, overwrites nothing and blocks nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bridge_agent import protocol
from bridge_agent.errors import ApiError
from bridge_agent.session_archive import restore_archived_file
from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.test_bridge_session_delete import chat, delete, listed_ids, session_file
from tests.support.bridge_process import BridgeProcess, EventStream

STAMP = "20261201T101010123456Z"


def restore(bridge: BridgeProcess, file: object) -> tuple[int, dict[str, Any]]:
    with bridge.client() as client:
        response = client.post(protocol.SESSIONS_RESTORE_PATH, json={"file": file})
    return response.status_code, response.json()


def archived(bridge: BridgeProcess) -> list[dict[str, Any]]:
    with bridge.client() as client:
        answer = client.get(protocol.SESSIONS_ARCHIVED_PATH)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["archived"])


def archive_folder(bridge: BridgeProcess) -> Path:
    return bridge.home / ".pi" / protocol.ARCHIVED_SESSIONS_FOLDER


def archived_session(bridge: BridgeProcess, text: str) -> tuple[str, Path, bytes, str]:
    """A session with one exchange, deleted: its id, its file's old path, its content and
    its archived name."""
    with EventStream(bridge) as events:
        session_id = chat(bridge, events, text, None)
    original = session_file(bridge.home, session_id)
    content = original.read_bytes()
    assert delete(bridge, session_id)[0] == 200
    (entry,) = archived(bridge)
    return session_id, original, content, str(entry["file"])


@pytest.fixture
def bridge(start_bridge: StartBridge) -> BridgeProcess:
    return start_bridge(prewarm=False)


def test_a_deleted_session_comes_back_whole_and_goes_on(bridge: BridgeProcess) -> None:
    with EventStream(bridge) as events:
        first = chat(bridge, events, "[[reply: bring me back]]", None)
        second = chat(bridge, events, "[[reply: the other]]", None)
        original = session_file(bridge.home, first)
        content = original.read_bytes()
        assert delete(bridge, first)[0] == 200
        (entry,) = archived(bridge)
        status, answer = restore(bridge, entry["file"])
        restored = events.wait_type(protocol.EVENT_SESSION_RESTORED, first)
        assert status == 200, answer
        assert answer == {
            "ok": True,
            "session_id": first,
            "restored_as": original.name,
            "current": second,
        }
        assert restored["data"] == {"restored_as": original.name, "archived_file": entry["file"]}
        assert original.read_bytes() == content
        assert archived(bridge) == []
        assert sorted(listed_ids(bridge)) == sorted([first, second])
        # The restored session takes prompts again, its history intact.
        chat(bridge, events, "[[reply: and on]]", first)
    with bridge.client() as client:
        history = client.get("/starter/messages", params={"session_id": first}).json()
    texts = str(history["messages"])
    assert "bring me back" in texts and "and on" in texts


def test_with_no_session_left_the_restored_one_becomes_current(bridge: BridgeProcess) -> None:
    with EventStream(bridge) as events:
        only = chat(bridge, events, "[[reply: alone]]", None)
    assert delete(bridge, only)[0] == 200
    (entry,) = archived(bridge)
    status, answer = restore(bridge, entry["file"])
    assert status == 200 and answer["current"] == only
    # Restored once: the archived name is gone.
    status, again = restore(bridge, entry["file"])
    assert status == 404 and again["error"] == "unknown_archive"


def test_a_session_listed_again_is_409_and_the_archive_keeps_its_copy(
    bridge: BridgeProcess,
) -> None:
    session_id, original, content, file = archived_session(bridge, "[[reply: twice]]")
    # The same session, written back under another name (a copy the agent made).
    copy = original.with_name(f"2026-01-01T00-00-00-000Z_{session_id}.jsonl")
    copy.write_bytes(content)
    status, answer = restore(bridge, file)
    assert status == 409 and answer["error"] == "session_exists"
    assert [a["file"] for a in archived(bridge)] == [file]
    assert not original.exists()


def test_a_file_of_the_same_name_in_pis_folder_is_never_overwritten(
    bridge: BridgeProcess,
) -> None:
    _, original, _, file = archived_session(bridge, "[[reply: mine]]")
    original.write_text("the agent's own file\n")
    status, answer = restore(bridge, file)
    assert status == 409 and answer["error"] == "session_file_exists"
    assert original.read_text() == "the agent's own file\n"
    assert [a["file"] for a in archived(bridge)] == [file]


@pytest.mark.parametrize(
    "bad",
    [
        "x.jsonl",
        "../x.jsonl",
        f"{STAMP}_../../etc/passwd.jsonl",
        f"{STAMP}_.hidden.jsonl",
        f"{STAMP}_a/b.jsonl",
        f"{STAMP}_a.txt",
        f"{STAMP}_a\x00.jsonl",
        "",
        123,
        None,
        ["x.jsonl"],
    ],
)
def test_malformed_archive_names_are_400(bridge: BridgeProcess, bad: object) -> None:
    status, answer = restore(bridge, bad)
    assert status == 400, answer
    assert answer["error"] == "invalid_field"


def test_a_planted_link_in_the_archive_restores_nothing(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    with EventStream(bridge) as events:
        real = chat(bridge, events, "[[reply: real]]", None)
    planted_id = "0c0c0c0c-0000-4000-8000-000000000000"
    target = tmp_path / "precious.jsonl"
    target.write_bytes(
        session_file(bridge.home, real).read_bytes().replace(real.encode(), planted_id.encode())
    )
    before = target.read_bytes()
    archive = archive_folder(bridge)
    archive.mkdir(exist_ok=True)
    name = f"{STAMP}_2026-01-01T00-00-00-000Z_{planted_id}.jsonl"
    (archive / name).symlink_to(target)
    status, answer = restore(bridge, name)
    assert status == 404 and answer["error"] == "unknown_archive"
    assert target.read_bytes() == before
    assert (archive / name).is_symlink()
    assert planted_id not in listed_ids(bridge)
    assert not list((bridge.home / ".pi" / "sessions").glob(f"*{planted_id}*"))


def test_a_fifo_in_the_archive_blocks_neither_the_list_nor_a_restore(
    bridge: BridgeProcess,
) -> None:
    archive = archive_folder(bridge)
    archive.mkdir(parents=True, exist_ok=True)
    name = f"{STAMP}_2026-01-01T00-00-00-000Z_0d0d0d0d-0000-4000-8000-000000000000.jsonl"
    os.mkfifo(archive / name)
    # Opening a FIFO for reading waits for a writer: the bridge must not.
    assert archived(bridge) == []
    status, answer = restore(bridge, name)
    assert status == 404 and answer["error"] == "unknown_archive"


def test_a_linked_archive_or_session_folder_is_refused(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    file = archived_session(bridge, "[[reply: away]]")[3]
    # pi's session folder swapped for a link to a folder outside the home.
    sessions = bridge.home / ".pi" / "sessions"
    outside = tmp_path / "outside"
    outside.mkdir()
    sessions.rename(bridge.home / ".pi" / "sessions-moved")
    sessions.symlink_to(outside)
    status, answer = restore(bridge, file)
    assert status == 409 and answer["error"] == "not_archivable"
    assert list(outside.iterdir()) == []
    assert [a["file"] for a in archived(bridge)] == [file]
    # And the archive folder swapped for a link.
    archive = archive_folder(bridge)
    archive.rename(bridge.home / ".pi" / "archive-moved")
    archive.symlink_to(bridge.home / ".pi" / "archive-moved")
    status, answer = restore(bridge, file)
    assert status == 409 and answer["error"] == "not_archivable"


def test_the_move_itself_refuses_a_link_too(tmp_path: Path) -> None:
    # Without the listing's check before it (a link swapped in between the two).
    home = tmp_path / "home"
    sessions = home / ".pi" / "sessions"
    archive = home / ".pi" / protocol.ARCHIVED_SESSIONS_FOLDER
    sessions.mkdir(parents=True)
    archive.mkdir()
    secret = tmp_path / "secret.jsonl"
    secret.write_text("not yours\n")
    name = f"{STAMP}_s.jsonl"
    (archive / name).symlink_to(secret)
    with pytest.raises(ApiError) as refused:
        restore_archived_file(home, sessions, name)
    assert refused.value.status == 409
    assert list(sessions.iterdir()) == []
    assert (archive / name).is_symlink() and secret.read_text() == "not yours\n"
