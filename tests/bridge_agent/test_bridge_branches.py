"""Branching through the bridge, against the real pi: edit-and-resend, the tree, switching
branch (also after pi restarts), duplicating a session, and the refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bridge_agent import protocol
from bridge_agent.branches import SessionEntries, session_tree
from tests.support.bridge_process import BridgeProcess, EventStream
from tests.support.model_server import ScriptedModelServer

TREE = "/starter/sessions/tree"
EDIT = "/starter/sessions/edit"
BRANCH = "/starter/sessions/branch"
CLONE = "/starter/sessions/clone"


@pytest.fixture
def events(shared_bridge: BridgeProcess) -> Iterator[EventStream]:
    with EventStream(shared_bridge) as stream:
        yield stream


def new_session(bridge: BridgeProcess) -> str:
    with bridge.client() as client:
        response = client.post("/starter/sessions/new", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def ask(bridge: BridgeProcess, events: EventStream, session_id: str, message: str) -> None:
    """Prompt and wait for the run's end."""
    start = len(events.events)
    with bridge.client() as client:
        response = client.post(
            "/starter/prompt", json={"message": message, "session_id": session_id}
        )
    assert response.status_code == 202, response.text
    events.wait_type("agent_end", session_id, start=start)


def conversation(bridge: BridgeProcess, session_id: str) -> list[str]:
    """The session's messages as ``role: text`` lines."""
    with bridge.client() as client:
        messages = client.get("/starter/messages", params={"session_id": session_id}).json()
    lines = []
    for message in messages["messages"]:
        content = message.get("content")
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        lines.append(f"{message['role']}: {text}")
    return lines


def tree(bridge: BridgeProcess, session_id: str) -> dict[str, Any]:
    with bridge.client() as client:
        response = client.get(TREE, params={"session_id": session_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


def node(found: dict[str, Any], text: str) -> dict[str, Any]:
    return next(n for n in found["nodes"] if n["text"] == text)


def two_questions(bridge: BridgeProcess, events: EventStream) -> str:
    session_id = new_session(bridge)
    ask(bridge, events, session_id, "first question")
    ask(bridge, events, session_id, "second question")
    return session_id


def test_edit_and_resend_starts_a_branch_and_switching_changes_the_messages(
    shared_bridge: BridgeProcess, events: EventStream, scripted_model_server: ScriptedModelServer
) -> None:
    session_id = two_questions(shared_bridge, events)
    before = tree(shared_bridge, session_id)
    first, second = node(before, "first question"), node(before, "second question")
    assert second["parent_id"] == first["id"] and first["parent_id"] is None
    assert first["active"] and second["active"]
    assert isinstance(second["message_timestamp"], int)

    start = len(events.events)
    with shared_bridge.client() as client:
        response = client.post(
            EDIT,
            json={"session_id": session_id, "entry_id": second["id"], "message": "second, edited"},
        )
    assert response.status_code == 202, response.text
    end = events.wait_type("agent_end", session_id, start=start)
    changed = events.wait_type("branch_changed", session_id, start=start)
    assert changed["id"] < end["id"] and changed["data"]["reason"] == "edit"
    # The model saw the conversation up to the edited message, not the old second question.
    sent = [m["content"] for m in scripted_model_server.requests[-1]["messages"]]
    assert "second question" not in str(sent) and "second, edited" in str(sent)
    assert conversation(shared_bridge, session_id) == [
        "user: first question",
        "assistant: Scripted answer: first question",
        "user: second, edited",
        "assistant: Scripted answer: second, edited",
    ]

    # The picker counts the messages on screen, not those of every branch.
    with shared_bridge.client() as client:
        listed = client.get("/starter/sessions").json()["sessions"]
    assert next(s for s in listed if s["id"] == session_id)["message_count"] == 4

    after = tree(shared_bridge, session_id)
    edited = node(after, "second, edited")
    old = node(after, "second question")
    assert edited["parent_id"] == old["parent_id"] == first["id"]  # siblings: two branches
    assert edited["active"] and not old["active"]

    start = len(events.events)
    with shared_bridge.client() as client:
        switched = client.post(BRANCH, json={"session_id": session_id, "entry_id": old["id"]})
    assert switched.status_code == 200, switched.text
    assert node(switched.json(), "second question")["active"]
    assert not node(switched.json(), "second, edited")["active"]
    assert events.wait_type("branch_changed", session_id, start=start)["data"]["reason"] == "switch"
    assert conversation(shared_bridge, session_id)[2:] == [
        "user: second question",
        "assistant: Scripted answer: second question",
    ]
    # Going on from here continues the old branch.
    ask(shared_bridge, events, session_id, "third question")
    third = node(tree(shared_bridge, session_id), "third question")
    assert third["parent_id"] == old["id"] and third["active"]


def test_the_chosen_branch_is_still_shown_after_pi_restarts(
    start_bridge: Any,
) -> None:
    bridge: BridgeProcess = start_bridge(idle_timeout=1.0)
    with EventStream(bridge) as events:
        session_id = two_questions(bridge, events)
        second = node(tree(bridge, session_id), "second question")
        with bridge.client() as client:
            start = len(events.events)
            edited = client.post(
                EDIT, json={"session_id": session_id, "entry_id": second["id"], "message": "other"}
            )
            assert edited.status_code == 202, edited.text
            # The session is busy until its run settles (after agent_end); counted from
            # before the edit, so a run that ended at once is not missed either.
            events.wait_type("agent_settled", session_id, start=start)
            # Back to the first branch, which is not the last one written to the file.
            switched = client.post(
                BRANCH, json={"session_id": session_id, "entry_id": second["id"]}
            )
            assert switched.status_code == 200, switched.text
        start = len(events.events)
        events.wait_for(
            lambda e: e["type"] == "session_ended" and e["data"]["reason"] == "idle", start=start
        )
    # pi starts again from the file: the branch is the one chosen, not the newest.
    assert conversation(bridge, session_id)[2] == "user: second question"
    assert node(tree(bridge, session_id), "second question")["active"]


def test_clone_duplicates_the_branch_on_screen_into_a_new_current_session(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = two_questions(shared_bridge, events)
    with shared_bridge.client() as client:
        response = client.post(CLONE, json={"session_id": session_id})
        assert response.status_code == 201, response.text
        clone_id = response.json()["session_id"]
        listed = client.get("/starter/sessions").json()
    assert clone_id != session_id
    assert listed["current"] == clone_id
    assert {session_id, clone_id} <= {s["id"] for s in listed["sessions"]}
    assert conversation(shared_bridge, clone_id) == conversation(shared_bridge, session_id)
    assert events.wait_type("session_started", clone_id)["data"]["reason"] == "clone"
    # The copy goes its own way; the original keeps its messages.
    ask(shared_bridge, events, clone_id, "only in the copy")
    assert len(conversation(shared_bridge, clone_id)) == 6
    assert len(conversation(shared_bridge, session_id)) == 4


def test_bad_entry_ids_and_wrong_entries_are_refused_with_a_message(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = two_questions(shared_bridge, events)
    with shared_bridge.client() as client:
        unknown = client.post(BRANCH, json={"session_id": session_id, "entry_id": "0123abcd"})
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "unknown_entry", "message": "Entry not found: 0123abcd"}
        malformed = client.post(
            EDIT, json={"session_id": session_id, "entry_id": "<img src=x>", "message": "hi"}
        )
        assert malformed.status_code == 400 and "entry_id" in malformed.json()["message"]
        no_text = client.post(EDIT, json={"session_id": session_id, "entry_id": "0123abcd"})
        assert no_text.status_code == 400 and "message" in no_text.json()["message"]
        entries = client.get(f"/starter/sessions/{session_id}/trace").text.splitlines()
        answer_id = next(
            line.split('"id":"')[1].split('"')[0]
            for line in entries
            if '"role":"assistant"' in line
        )
        not_mine = client.post(
            EDIT, json={"session_id": session_id, "entry_id": answer_id, "message": "hi"}
        )
        assert not_mine.status_code == 400 and "only those" in not_mine.json()["message"]
        unknown_session = client.get(TREE, params={"session_id": "no-such-session"})
        assert unknown_session.status_code == 404
    # Nothing moved.
    assert conversation(shared_bridge, session_id)[2] == "user: second question"


def test_editing_or_switching_a_working_session_is_a_409(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = two_questions(shared_bridge, events)
    first = node(tree(shared_bridge, session_id), "first question")
    start = len(events.events)
    with shared_bridge.client() as client:
        assert (
            client.post(
                "/starter/prompt", json={"message": "[[slow: 40]]", "session_id": session_id}
            ).status_code
            == 202
        )
        events.wait_type("message_update", session_id, start=start)
        busy_edit = client.post(
            EDIT, json={"session_id": session_id, "entry_id": first["id"], "message": "x"}
        )
        busy_switch = client.post(BRANCH, json={"session_id": session_id, "entry_id": first["id"]})
        busy_clone = client.post(CLONE, json={"session_id": session_id})
        client.post("/starter/abort", json={"session_id": session_id})
    for refused in (busy_edit, busy_switch, busy_clone):
        assert refused.status_code == 409, refused.text
        assert "working" in refused.json()["message"]
    events.wait_type("agent_end", session_id, start=start)


def test_message_text_in_the_tree_is_passed_as_it_was_written(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = new_session(shared_bridge)
    markup = '<img src=x onerror="alert(1)"> and ' + "long " * 100
    ask(shared_bridge, events, session_id, markup)
    found = tree(shared_bridge, session_id)
    assert found["nodes"][0]["text"] == markup[:300]  # cut, never escaped or interpreted


def test_a_long_session_and_a_looping_chain_are_read_without_recursion() -> None:
    entries = [
        {
            "type": "message",
            "id": f"e{i}",
            "parentId": f"e{i - 1}" if i else None,
            "message": {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"},
        }
        for i in range(5000)
    ]
    entries.append(
        {"type": "message", "id": "loop", "parentId": "loop", "message": {"role": "user"}}
    )
    read = SessionEntries.of({"entries": entries, "leafId": "e4999"})
    found = session_tree("s", read)
    assert len(found["nodes"]) == protocol.MAX_TREE_NODES
    assert all(n["active"] for n in found["nodes"] if n["id"] != "loop")
    assert read.tip_of("e0") == "e4999" and read.path_to("loop") == ["loop"]
