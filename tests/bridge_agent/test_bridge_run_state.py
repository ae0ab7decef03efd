"""pi 1.6's run state through the bridge: prompt dispositions, busy until agent_settled,
retried runs, the queue of waiting messages, thinking levels per model, session names."""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge_agent.live_session import LiveSession
from bridge_agent.protocol import MAX_SESSION_NAME_CHARS
from tests.bridge_agent.conftest import StartBridge
from tests.support.bridge_process import BridgeProcess, EventStream
from tests.support.model_server import ScriptedModelServer, write_pi_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTED_EXTENSION = Path(__file__).with_name("extensions") / "noted-command.ts"


@pytest.fixture
def events(shared_bridge: BridgeProcess) -> Iterator[EventStream]:
    with EventStream(shared_bridge) as stream:
        yield stream


def post(bridge: BridgeProcess, path: str, body: dict[str, object]) -> dict[str, object]:
    with bridge.client() as client:
        response = client.post(path, json=body)
    assert response.status_code < 300, response.text
    answer: dict[str, object] = response.json()
    return answer


def state(bridge: BridgeProcess, session_id: str) -> dict[str, object]:
    with bridge.client() as client:
        answer: dict[str, object] = client.get(
            "/starter/state", params={"session_id": session_id}
        ).json()
    return answer


def new_session(bridge: BridgeProcess, name: str | None = None) -> str:
    return str(post(bridge, "/starter/sessions/new", {"name": name} if name else {})["session_id"])


# -- dispositions and busy time ------------------------------------------------------------


def pi_with_extension(directory: Path, extension: Path) -> dict[str, str]:
    """The environment for a bridge whose pi also loads ``extension`` (a wrapper script
    appends ``-e``; the bridge's own argv stays as it is)."""
    node = PROJECT_ROOT / "node_modules" / ".bin" / "node"
    pi = PROJECT_ROOT / "node_modules" / ".bin" / "pi"
    wrapper = directory / "pi-with-extension"
    wrapper.write_text(f'#!/bin/sh\nexec "{node}" "{pi}" "$@" -e "{extension}"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    # No `node` beside the wrapper and none named: the bridge runs the wrapper itself.
    return {"STARTER_PI_BIN": str(wrapper), "STARTER_NODE_BIN": ""}


def test_a_handled_prompt_starts_no_run_and_leaves_the_session_idle(
    start_bridge: StartBridge, tmp_path: Path
) -> None:
    bridge = start_bridge(env=pi_with_extension(tmp_path, NOTED_EXTENSION), prewarm=False)
    session_id = new_session(bridge)
    with EventStream(bridge) as stream:
        answer = post(bridge, "/starter/prompt", {"message": "/noted hi", "session_id": session_id})
        assert answer["disposition"] == "handled"
        stream.wait_for(lambda e: e["type"] == "notify" and e["data"]["message"] == "noted hi")
        # Not stuck busy: the next plain prompt is accepted (a busy session answers 409).
        assert state(bridge, session_id)["busy"] is False
        again = post(
            bridge, "/starter/prompt", {"message": "[[reply: ran]]", "session_id": session_id}
        )
        assert again["disposition"] == "started"
        stream.wait_type("agent_settled", session_id)
        assert stream.of_type("agent_start", session_id).__len__() == 1


def test_busy_lasts_through_a_retried_run_until_agent_settled(
    start_bridge: StartBridge, tmp_path: Path, scripted_model_server: ScriptedModelServer
) -> None:
    home = tmp_path / "retry-home"
    agent_dir = write_pi_config(home, scripted_model_server.base_url)
    settings = json.loads((agent_dir / "settings.json").read_text())
    # One failed attempt, retried after a second: long enough to look at the session.
    settings["retry"] = {"enabled": True, "maxRetries": 2, "baseDelayMs": 1500}
    (agent_dir / "settings.json").write_text(json.dumps(settings))
    bridge = start_bridge(home=home, prewarm=False)
    session_id = new_session(bridge)
    with EventStream(bridge) as stream:
        post(
            bridge,
            "/starter/prompt",
            # Unique text: the scripted server counts the attempts per user message.
            {"message": f"[[flaky: 1]] retry-me-{uuid.uuid4().hex[:8]}", "session_id": session_id},
        )
        first_end = stream.wait_type("agent_end", session_id)
        assert first_end["data"]["willRetry"] is True
        stream.wait_type("auto_retry_start", session_id)
        # Between the attempts pi is not done: busy (a prompt is refused), and retrying.
        between = state(bridge, session_id)
        assert between["busy"] is True and between["retrying"] is True
        with bridge.client() as client:
            refused = client.post(
                "/starter/prompt", json={"message": "no", "session_id": session_id}
            )
        assert refused.status_code == 409
        settled = stream.wait_type("agent_settled", session_id, timeout=30)
        ends = stream.of_type("agent_end", session_id)
        assert [end["data"]["willRetry"] for end in ends] == [True, False]
        assert ends[-1]["id"] < settled["id"]
        final = ends[-1]["data"]["messages"][-1]
        assert final["role"] == "assistant" and final["stopReason"] == "stop"
        after = state(bridge, session_id)
        assert after["busy"] is False and after["retrying"] is False


def test_a_compaction_between_runs_leaves_the_session_idle_and_usable(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = new_session(shared_bridge)
    # pi estimates 4 characters a token: more than the 20 000 tokens pi keeps, so the
    # compaction has something to summarise (the older turn).
    long_prompt = "[[reply: one]] " + "lorem " * 16_000
    for message in ("[[reply: one more]]", long_prompt):
        mark = len(events.events)
        post(shared_bridge, "/starter/prompt", {"message": message, "session_id": session_id})
        events.wait_type("agent_settled", session_id, start=mark)
    with shared_bridge.client() as client:
        compacted = client.post("/starter/sessions/compact", json={"session_id": session_id})
    assert compacted.status_code == 200, compacted.text
    assert state(shared_bridge, session_id)["busy"] is False
    mark = len(events.events)
    answer = post(
        shared_bridge, "/starter/prompt", {"message": "[[reply: two]]", "session_id": session_id}
    )
    assert answer["disposition"] == "started"
    events.wait_type("agent_settled", session_id, start=mark)
    assert state(shared_bridge, session_id)["busy"] is False


def test_a_lone_agent_settled_is_idle_and_never_paired_with_a_start() -> None:
    # pi sends agent_settled with no run before it (after switch_session, as a compaction
    # starts): it must neither make the session busy nor close a later run early.
    live = LiveSession("s", process=None, session_file=None)  # type: ignore[arg-type]
    live.observe({"type": "agent_settled", "aborted": False})
    assert not live.busy
    live.observe({"type": "agent_start"})
    live.observe({"type": "agent_end", "messages": [], "willRetry": True})
    live.observe({"type": "auto_retry_start", "attempt": 1})
    assert live.busy and live.retrying
    live.observe({"type": "agent_start"})
    live.observe({"type": "agent_end", "messages": [], "willRetry": False})
    assert live.busy and live.settling
    live.observe({"type": "agent_settled", "aborted": False})
    assert not live.busy and not live.retrying and not live.settling


# -- the queue -----------------------------------------------------------------------------


def test_a_queued_follow_up_is_listed_and_can_be_taken_back(
    shared_bridge: BridgeProcess, events: EventStream, scripted_model_server: ScriptedModelServer
) -> None:
    session_id = new_session(shared_bridge)
    post(shared_bridge, "/starter/prompt", {"message": "[[slow: 30]]", "session_id": session_id})
    events.wait_type("agent_start", session_id)
    queued = post(
        shared_bridge,
        "/starter/follow-up",
        {"message": "later-take-back", "session_id": session_id},
    )
    assert queued["disposition"] == "queued"
    update = events.wait_for(
        lambda e: e["type"] == "queue_update" and e["data"]["followUp"] == ["later-take-back"]
    )
    assert update["session_id"] == session_id
    assert state(shared_bridge, session_id)["queue"] == {
        "steering": [],
        "followUp": ["later-take-back"],
    }
    taken = post(shared_bridge, "/starter/queue/clear", {"session_id": session_id})
    assert taken == {
        "ok": True,
        "session_id": session_id,
        "steering": [],
        "followUp": ["later-take-back"],
    }
    assert state(shared_bridge, session_id)["queue"] == {"steering": [], "followUp": []}
    with shared_bridge.client() as client:
        client.post("/starter/abort", json={"session_id": session_id})
    events.wait_type("agent_settled", session_id)
    time.sleep(0.5)
    # Taken back means never sent: no model request ever carried it.
    assert not any("later-take-back" in json.dumps(r) for r in scripted_model_server.requests)
    # Nothing left to take back; a stopped or idle session answers an empty queue.
    again = post(shared_bridge, "/starter/queue/clear", {"session_id": session_id})
    assert again["followUp"] == [] and again["steering"] == []


def test_clearing_the_queue_of_an_unknown_session_is_404(shared_bridge: BridgeProcess) -> None:
    with shared_bridge.client() as client:
        response = client.post("/starter/queue/clear", json={"session_id": "no-such-session"})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_session"


# -- thinking levels -----------------------------------------------------------------------


def test_thinking_levels_follow_the_model(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = new_session(shared_bridge)
    assert state(shared_bridge, session_id)["thinking_levels"] == ["off"]
    configured = post(
        shared_bridge,
        "/starter/config",
        {"model": "fake/fake-reasoner", "thinking_level": "high", "session_id": session_id},
    )
    levels = configured["thinking_levels"]
    assert isinstance(levels, list) and levels[0] == "off" and "high" in levels
    assert configured["thinking_level"] == "high"
    changed = events.wait_for(
        lambda e: e["type"] == "thinking_level_changed" and e["session_id"] == session_id
    )
    assert changed["data"]["level"] == "high"
    # Back to a model that cannot reason: pi clamps the level and offers only "off".
    back = post(
        shared_bridge, "/starter/config", {"model": "fake/fake-model", "session_id": session_id}
    )
    assert back["thinking_levels"] == ["off"]
    assert back["thinking_level"] == "off"


# -- session names -------------------------------------------------------------------------


def listed(bridge: BridgeProcess, session_id: str) -> dict[str, object]:
    with bridge.client() as client:
        sessions = client.get("/starter/sessions").json()["sessions"]
    found: dict[str, object] = next(s for s in sessions if s["id"] == session_id)
    return found


def test_a_session_named_at_creation_keeps_its_name_in_its_file(
    start_bridge: StartBridge, tmp_path: Path, scripted_model_server: ScriptedModelServer
) -> None:
    home = tmp_path / "names-home"
    write_pi_config(home, scripted_model_server.base_url)
    bridge = start_bridge(home=home, prewarm=False)
    hostile = "<img src=x onerror=alert(1)>\nsecond line\u202e\x00 " + "x" * 40
    with bridge.client() as client:
        created = client.post("/starter/sessions/new", json={"name": hostile})
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]
    # One line, no control or bidi characters; the markup stays text for clients to escape.
    expected = "<img src=x onerror=alert(1)> second line " + "x" * 40
    assert created.json()["name"] == expected
    assert listed(bridge, session_id)["name"] == expected  # live, no file yet
    with EventStream(bridge) as stream:
        post(bridge, "/starter/prompt", {"message": "[[reply: hi]]", "session_id": session_id})
        stream.wait_type("agent_settled", session_id)
        renamed = post(
            bridge, "/starter/sessions/rename", {"session_id": session_id, "name": "Sales report"}
        )
        assert renamed["name"] == "Sales report"
        change = stream.wait_type("session_info_changed", session_id)
        assert change["data"]["name"] in (expected, "Sales report")
    bridge.stop()
    again = start_bridge(home=home, prewarm=False)
    entry = listed(again, session_id)
    assert entry["name"] == "Sales report" and entry["live"] is False  # read from pi's file


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "visible text"),
        ("\x00\x01\u200b", "visible text"),
        ("n" * (MAX_SESSION_NAME_CHARS + 1), f"at most {MAX_SESSION_NAME_CHARS}"),
        (42, "must be text"),
    ],
)
def test_a_bad_session_name_is_a_400(
    shared_bridge: BridgeProcess, name: object, message: str
) -> None:
    with shared_bridge.client() as client:
        response = client.post("/starter/sessions/rename", json={"name": name})
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


def test_a_name_in_a_session_file_is_cleaned_when_listed(
    start_bridge: StartBridge, tmp_path: Path, scripted_model_server: ScriptedModelServer
) -> None:
    home = tmp_path / "file-names"
    write_pi_config(home, scripted_model_server.base_url)
    sessions = home / ".pi" / "sessions"
    sessions.mkdir(parents=True)
    header = {
        "type": "session",
        "version": 3,
        "id": "forged-1",
        "timestamp": "2026-11-30T10:00:00.000Z",
        "cwd": str(home),
    }
    info = {
        "type": "session_info",
        "id": "e1",
        "parentId": None,
        "timestamp": "2026-11-30T10:00:01.000Z",
        "name": "a\nb\u202e" + "y" * 500,
    }
    (sessions / "2026-11-30T10-00-00-000Z_forged-1.jsonl").write_text(
        "\n".join(json.dumps(line) for line in (header, info)) + "\n"
    )
    bridge = start_bridge(home=home, prewarm=False)
    name = listed(bridge, "forged-1")["name"]
    assert isinstance(name, str) and len(name) == MAX_SESSION_NAME_CHARS
    assert name.startswith("a by") and "\n" not in name and "\u202e" not in name
    assert os.sep not in name
