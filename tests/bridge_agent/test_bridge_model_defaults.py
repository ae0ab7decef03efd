"""The dashboard's model picker sets the project's model from now on.

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
