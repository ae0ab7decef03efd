"""Deleting a session archives its file (never loses it), refuses a running session, and
never follows a link the agent planted in its home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge_agent import protocol
from bridge_agent.session_archive import _place
from tests.bridge_agent.conftest import StartBridge
from tests.support.bridge_process import BridgeProcess, EventStream


def chat(bridge: BridgeProcess, events: EventStream, text: str, session_id: str | None) -> str:
    """Send ``text`` to a session (None: a new one) and wait until its run settled."""
    with bridge.client() as client:
        if session_id is None:
            session_id = client.post("/starter/sessions/new", json={}).json()["session_id"]
        answer = client.post("/starter/prompt", json={"message": text, "session_id": session_id})
    assert answer.status_code == 202, answer.text
    events.wait_type("agent_settled", session_id)
    return str(session_id)


def session_file(home: Path, session_id: str) -> Path:
    (found,) = (home / ".pi" / "sessions").glob(f"*_{session_id}.jsonl")
    return found


def listed_ids(bridge: BridgeProcess) -> list[str]:
    with bridge.client() as client:
        return [s["id"] for s in client.get("/starter/sessions").json()["sessions"]]


def delete(bridge: BridgeProcess, session_id: str) -> tuple[int, dict[str, object]]:
    with bridge.client() as client:
        response = client.delete(f"/starter/sessions/{session_id}")
    return response.status_code, response.json()


@pytest.fixture
def bridge(start_bridge: StartBridge) -> BridgeProcess:
    return start_bridge(prewarm=False)


def test_deleted_session_moves_whole_to_the_archive_and_leaves_the_list(
    bridge: BridgeProcess,
) -> None:
    with EventStream(bridge) as events:
        first = chat(bridge, events, "[[reply: keep me]]", None)
        second = chat(bridge, events, "[[reply: the other one]]", None)
        original = session_file(bridge.home, first)
        content = original.read_bytes()
        status, answer = delete(bridge, first)
        deleted = events.wait_type(protocol.EVENT_SESSION_DELETED, first)
    assert status == 200, answer
    archived = bridge.home / ".pi" / protocol.ARCHIVED_SESSIONS_FOLDER / str(answer["archived_as"])
    assert archived.read_bytes() == content
    assert archived.name.endswith("_" + original.name)
    assert not original.exists()
    assert first not in listed_ids(bridge) and second in listed_ids(bridge)
    assert deleted["data"] == {"archived_as": archived.name, "current": second}
    with bridge.client() as client:
        listing = client.get("/starter/sessions/archived").json()["archived"]
        # Gone for every command too, not only from the list.
        state = client.get("/starter/state", params={"session_id": first})
    assert [(a["id"], a["file"]) for a in listing] == [(first, archived.name)]
    assert listing[0]["message_count"] == 2
    assert state.status_code == 404


def test_deleting_the_current_session_hands_over_to_the_most_recent_other(
    bridge: BridgeProcess,
) -> None:
    with EventStream(bridge) as events:
        older = chat(bridge, events, "[[reply: older]]", None)
        current = chat(bridge, events, "[[reply: current]]", None)
    with bridge.client() as client:
        assert client.get("/starter/sessions").json()["current"] == current
    status, answer = delete(bridge, current)
    assert status == 200 and answer["current"] == older
    with bridge.client() as client:
        assert client.get("/starter/sessions").json()["current"] == older
        # The next command without a session id goes to the one handed over to.
        assert client.get("/starter/state").json()["session_id"] == older


def test_deleting_a_session_that_runs_a_prompt_is_409_and_keeps_it(bridge: BridgeProcess) -> None:
    with EventStream(bridge) as events, bridge.client() as client:
        session_id = client.post("/starter/prompt", json={"message": "[[bash: sleep 30]]"}).json()[
            "session_id"
        ]
        events.wait_type("tool_start", session_id)
        status, answer = delete(bridge, session_id)
        assert status == 409 and answer["error"] == "busy"
        assert "running a prompt" in str(answer["message"])
        client.post("/starter/abort", json={"session_id": session_id})
        events.wait_type("agent_settled", session_id)
    assert session_file(bridge.home, session_id).exists()
    assert session_id in listed_ids(bridge)


@pytest.mark.parametrize("bad", ["-leading-dash", "a.b", "a_b", "%2e%2e", "a%00b", "a%20b"])
def test_malformed_session_ids_are_400(bridge: BridgeProcess, bad: str) -> None:
    with bridge.client() as client:
        response = client.delete(f"/starter/sessions/{bad}")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_field"


@pytest.mark.parametrize("bad", ["..%2F..%2Fetc", "a%2Fb", "..", "."])
def test_a_path_separator_or_dot_segment_reaches_no_route(bridge: BridgeProcess, bad: str) -> None:
    # "." and ".." are folded by the URL itself; an encoded "/" is no path segment.
    with bridge.client() as client:
        assert client.delete(f"/starter/sessions/{bad}").status_code in (404, 405)


def test_an_unknown_session_id_is_404(bridge: BridgeProcess) -> None:
    status, answer = delete(bridge, "0a0a0a0a-0000-4000-8000-000000000000")
    assert status == 404 and answer["error"] == "unknown_session"


def test_a_linked_archive_folder_is_refused_and_nothing_moves(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    with EventStream(bridge) as events:
        session_id = chat(bridge, events, "[[reply: stay]]", None)
    outside = tmp_path / "outside"
    outside.mkdir()
    (bridge.home / ".pi" / protocol.ARCHIVED_SESSIONS_FOLDER).symlink_to(outside)
    status, answer = delete(bridge, session_id)
    assert status == 409 and answer["error"] == "not_archivable"
    assert "link" in str(answer["message"])
    assert list(outside.iterdir()) == []
    assert session_file(bridge.home, session_id).exists()
    with bridge.client() as client:
        # The listing does not read through the link either.
        assert client.get("/starter/sessions/archived").status_code == 409


def test_a_linked_session_file_is_refused_and_its_target_kept(
    bridge: BridgeProcess, tmp_path: Path
) -> None:
    with EventStream(bridge) as events:
        real = chat(bridge, events, "[[reply: real]]", None)
    # The agent plants a link named like a session file, to a file outside pi's folder.
    target = tmp_path / "precious.jsonl"
    planted = "0b0b0b0b-0000-4000-8000-000000000000"
    copied = session_file(bridge.home, real).read_bytes()
    target.write_bytes(copied.replace(real.encode(), planted.encode()))
    before = target.read_bytes()
    link = bridge.home / ".pi" / "sessions" / f"2026-01-01T00-00-00-000Z_{planted}.jsonl"
    link.symlink_to(target)
    status, answer = delete(bridge, planted)
    assert status == 409 and answer["error"] == "not_archivable"
    assert link.is_symlink() and target.read_bytes() == before
    archive = bridge.home / ".pi" / protocol.ARCHIVED_SESSIONS_FOLDER
    assert not archive.exists() or list(archive.iterdir()) == []


def test_a_planted_link_in_the_archive_is_not_listed(bridge: BridgeProcess, tmp_path: Path) -> None:
    with EventStream(bridge) as events:
        session_id = chat(bridge, events, "[[reply: archived]]", None)
    assert delete(bridge, session_id)[0] == 200
    archive = bridge.home / ".pi" / protocol.ARCHIVED_SESSIONS_FOLDER
    (archive / "zzz_planted.jsonl").symlink_to(next(archive.iterdir()))
    with bridge.client() as client:
        listing = client.get("/starter/sessions/archived").json()["archived"]
    assert [a["id"] for a in listing] == [session_id]


def test_an_archive_name_that_is_taken_gets_a_new_name(tmp_path: Path) -> None:
    sessions, archive = tmp_path / "sessions", tmp_path / "archive"
    sessions.mkdir()
    archive.mkdir()
    (sessions / "s.jsonl").write_text("new\n")
    (archive / "t_s.jsonl").write_text("old\n")
    (archive / "t_s-1.jsonl").write_text("older\n")
    source = os.open(sessions, os.O_RDONLY | os.O_DIRECTORY)
    target = os.open(archive, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert _place("s.jsonl", source, target, "t_s.jsonl") == "t_s-2.jsonl"
    finally:
        os.close(source)
        os.close(target)
    assert (archive / "t_s.jsonl").read_text() == "old\n"
    assert (archive / "t_s-1.jsonl").read_text() == "older\n"
    assert (archive / "t_s-2.jsonl").read_text() == "new\n"
