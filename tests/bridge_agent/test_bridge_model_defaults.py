"""pi 1.x behaviours the bridge evens out: the dashboard's model picker sets the project's
model from now on, and pi's system-prompt record is not a chat message.

pi 1.x no longer saves ``set_model`` as the default for new sessions (pi 0.73 did), so the
bridge writes the choice into pi's settings.json itself, keeping the file's other keys."""

from __future__ import annotations

import json

from tests.bridge_agent.conftest import StartBridge


def test_a_model_chosen_in_one_session_is_the_default_of_the_next(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    settings_path = bridge.home / ".pi" / "agent" / "settings.json"
    before = json.loads(settings_path.read_text())
    with bridge.client() as client:
        first = client.post("/starter/sessions/new").json()["session_id"]
        chosen = client.post(
            "/starter/config",
            json={"model": "fake/fake-model-2", "thinking_level": "off", "session_id": first},
        )
        assert chosen.status_code == 200, chosen.text
        second = client.post("/starter/sessions/new").json()["session_id"]
        state = client.get("/starter/state", params={"session_id": second}).json()
    assert second != first
    assert state["model"]["id"] == "fake-model-2"
    after = json.loads(settings_path.read_text())
    assert after["defaultProvider"] == "fake" and after["defaultModel"] == "fake-model-2"
    assert after["defaultThinkingLevel"] == "off"
    # Everything the control plane wrote is still there.
    assert {key: after[key] for key in before if key not in ("defaultModel",)} == {
        key: value for key, value in before.items() if key != "defaultModel"
    }


def test_a_model_pi_does_not_know_changes_no_default(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    settings_path = bridge.home / ".pi" / "agent" / "settings.json"
    before = settings_path.read_text()
    with bridge.client() as client:
        refused = client.post("/starter/config", json={"model": "nope/nothing"})
    assert refused.status_code == 400, refused.text
    assert "Model not found" in refused.json()["message"]
    assert settings_path.read_text() == before


def test_a_new_chat_shows_no_system_message_and_counts_none(start_bridge: StartBridge) -> None:
    """pi 1.x records its system prompt as a ``role: "system"`` message at the start of a
    session: the bridge drops it from events and messages, and counts only the chat."""
    from tests.support.bridge_process import EventStream

    bridge = start_bridge()
    with EventStream(bridge, after=0) as events, bridge.client() as client:
        session_id = client.post("/starter/sessions/new").json()["session_id"]
        sent = client.post(
            "/starter/prompt", json={"message": "[[reply: hi]]", "session_id": session_id}
        )
        assert sent.status_code == 202, sent.text
        events.wait_type("agent_settled", session_id)
        messages = client.get("/starter/messages", params={"session_id": session_id}).json()
        state = client.get("/starter/state", params={"session_id": session_id}).json()
        listed = client.get("/starter/sessions").json()
        trace = client.get(f"/starter/sessions/{session_id}/trace").text
    roles = [
        e["data"]["message"]["role"]
        for e in events.events
        if e["type"] in ("message_start", "message_end") and e.get("session_id") == session_id
    ]
    assert roles and "system" not in roles
    end = next(e for e in events.events if e["type"] == "agent_end")
    assert [m["role"] for m in end["data"]["messages"]] == ["user", "assistant"]
    assert [m["role"] for m in messages["messages"]] == ["user", "assistant"]
    assert state["message_count"] == 2
    (summary,) = [s for s in listed["sessions"] if s["id"] == session_id]
    assert summary["message_count"] == 2
    # pi did record it: the session file holds the system message the chat does not show.
    assert '"role":"system"' in trace
