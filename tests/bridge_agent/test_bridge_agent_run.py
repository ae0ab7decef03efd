"""Driving the real pi through the bridge: events, steering, follow-ups, aborts, sessions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.bridge_process import BridgeProcess, EventStream
from tests.support.model_server import ScriptedModelServer


@pytest.fixture
def events(shared_bridge: BridgeProcess) -> Iterator[EventStream]:
    with EventStream(shared_bridge) as stream:
        yield stream


def prompt(bridge: BridgeProcess, message: str, session_id: str | None = None) -> str:
    body = {"message": message} | ({"session_id": session_id} if session_id else {})
    with bridge.client() as client:
        response = client.post("/starter/prompt", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["session_id"])


def run_of(events: EventStream, session_id: str) -> list[dict]:
    """The events of the session's latest run, from agent_start to agent_end."""
    end = events.wait_type("agent_end", session_id)
    mine = [e for e in events.events if e["session_id"] == session_id and e["id"] <= end["id"]]
    starts = [i for i, e in enumerate(mine) if e["type"] == "agent_start"]
    return mine[starts[-1] :]


def assistant_texts(run: list[dict]) -> list[str]:
    return [
        part["text"]
        for e in run
        if e["type"] == "message_end" and e["data"]["message"]["role"] == "assistant"
        for part in e["data"]["message"]["content"]
        if part["type"] == "text"
    ]


def test_bash_prompt_streams_the_whole_run_with_consecutive_ids(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = prompt(shared_bridge, "[[bash: echo bridge-$((40 + 2))]]")
    run = run_of(events, session_id)
    types = [e["type"] for e in run]
    for expected in ("agent_start", "message_update", "tool_start", "tool_end", "agent_end"):
        assert expected in types
    assert types.index("tool_start") < types.index("tool_end") < types.index("agent_end")
    ids = [e["id"] for e in events.events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive, nothing skipped
    tool_end = next(e for e in run if e["type"] == "tool_end")
    assert tool_end["data"]["toolName"] == "bash"
    assert tool_end["data"]["text"] == "bridge-42\n"  # the command really ran
    deltas = [e for e in run if e["type"] == "message_update"]
    assert any(e["data"]["assistantMessageEvent"]["type"] == "text_delta" for e in deltas)
    for update in deltas:
        assert "message" not in update["data"]
        assert "partial" not in update["data"]["assistantMessageEvent"]
    for envelope in run:
        assert set(envelope) == {"id", "session_id", "type", "data", "ts"}
    assert assistant_texts(run) == ["Done. bridge-42\n"]

    with shared_bridge.client() as client:
        listed = client.get("/starter/sessions").json()["sessions"]
        trace = client.get(f"/starter/sessions/{session_id}/trace")
        messages = client.get("/starter/messages", params={"session_id": session_id}).json()
    entry = next(s for s in listed if s["id"] == session_id)
    assert entry["message_count"] >= 4 and entry["live"] and entry["created"]
    lines = [json.loads(line) for line in trace.text.splitlines()]
    assert trace.headers["content-type"].startswith("application/x-ndjson")
    assert lines[0]["type"] == "session" and lines[0]["id"] == session_id
    assert any(line.get("message", {}).get("role") == "toolResult" for line in lines)
    assert [m["role"] for m in messages["messages"]][-4:] == [
        "user", "assistant", "toolResult", "assistant"
    ]  # fmt: skip


def test_prompt_while_busy_is_409_and_abort_stops_a_running_command_fast(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = prompt(shared_bridge, "[[bash: sleep 30]]")
    start = events.wait_type("tool_start", session_id)
    with shared_bridge.client() as client:
        busy = client.post("/starter/prompt", json={"message": "again", "session_id": session_id})
        assert busy.status_code == 409
        assert busy.json()["error"] == "busy"
        assert "steer" in busy.json()["message"] and "follow-up" in busy.json()["message"]
        asked = time.monotonic()
        assert client.post("/starter/abort", json={"session_id": session_id}).status_code == 200
    tool_end = events.wait_type("tool_end", session_id, timeout=5, start=events.events.index(start))
    assert time.monotonic() - asked < 1.0
    assert "aborted" in tool_end["data"]["text"].lower()
    events.wait_type("agent_end", session_id, start=events.events.index(tool_end))


def test_abort_stops_a_streaming_reply(shared_bridge: BridgeProcess, events: EventStream) -> None:
    session_id = prompt(shared_bridge, "[[slow: 300]]")
    events.wait_for(
        lambda e: (
            e["type"] == "message_update"
            and e["data"]["assistantMessageEvent"].get("delta", "").startswith("tick")
        )
    )
    with shared_bridge.client() as client:
        client.post("/starter/abort", json={"session_id": session_id})
    end = events.wait_type("agent_end", session_id, timeout=5)
    last = end["data"]["messages"][-1]
    assert last["stopReason"] == "aborted"


def test_steer_redirects_the_agent_before_its_next_model_call(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = prompt(shared_bridge, "[[bash: sleep 1; echo slept]]")
    events.wait_type("tool_start", session_id)
    with shared_bridge.client() as client:
        response = client.post(
            "/starter/steer", json={"message": "[[reply: steered-ok]]", "session_id": session_id}
        )
    assert response.status_code == 202
    run = run_of(events, session_id)
    assert [e["type"] for e in run].count("agent_start") == 1
    # The steer arrived after the tool and before the next model call, which answered it.
    assert assistant_texts(run) == ["steered-ok"]


def test_follow_up_waits_for_the_current_run_then_runs(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    session_id = prompt(shared_bridge, "[[bash: sleep 1; echo first-done]]")
    events.wait_type("tool_start", session_id)
    with shared_bridge.client() as client:
        response = client.post(
            "/starter/follow-up", json={"message": "[[reply: then-this]]", "session_id": session_id}
        )
    assert response.status_code == 202
    events.wait_for(
        lambda e: (
            e["type"] == "message_end"
            and e["session_id"] == session_id
            and "then-this" in json.dumps(e["data"]["message"]["content"])
            and e["data"]["message"]["role"] == "assistant"
        )
    )
    run = run_of(events, session_id)
    assert assistant_texts(run) == ["Done. first-done\n", "then-this"]


def test_steer_while_idle_starts_a_run(shared_bridge: BridgeProcess, events: EventStream) -> None:
    with shared_bridge.client() as client:
        session_id = client.get("/starter/state").json()["session_id"]
        response = client.post("/starter/steer", json={"message": "[[reply: idle-steer]]"})
    assert response.status_code == 202
    assert assistant_texts(run_of(events, session_id)) == ["idle-steer"]


def test_two_sessions_run_at_once_without_mixing_events(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    with shared_bridge.client() as client:
        first = client.get("/starter/state").json()["session_id"]
        created = client.post("/starter/sessions/new")
        assert created.status_code == 201
        second = created.json()["session_id"]
    assert second != first
    results: dict[str, str] = {}

    def send(session_id: str, label: str) -> None:
        results[label] = prompt(shared_bridge, f"[[bash: sleep 1; echo out-{label}]]", session_id)

    threads = [
        threading.Thread(target=send, args=(first, "a")),
        threading.Thread(target=send, args=(second, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_a, run_b = run_of(events, first), run_of(events, second)
    ends_a = [e["data"]["text"] for e in run_a if e["type"] == "tool_end"]
    ends_b = [e["data"]["text"] for e in run_b if e["type"] == "tool_end"]
    assert ends_a == ["out-a\n"] and ends_b == ["out-b\n"]
    # They really overlapped: each started before the other ended.
    assert run_a[0]["id"] < run_b[-1]["id"] and run_b[0]["id"] < run_a[-1]["id"]
    with shared_bridge.client() as client:
        listed = {s["id"]: s for s in client.get("/starter/sessions").json()["sessions"]}
        assert listed[second]["current"] and listed[first]["live"]
        switched = client.post("/starter/sessions/switch", json={"session_id": first})
        assert switched.status_code == 200
        assert client.get("/starter/state").json()["session_id"] == first


def test_compacting_a_short_session_is_a_409_with_pis_reason(
    shared_bridge: BridgeProcess, events: EventStream
) -> None:
    """pi >= 1.0 refuses to compact what fits its kept window (20000 tokens by default)."""
    session_id = prompt(shared_bridge, "[[reply: too short to compact]]")
    events.wait_type("agent_end", session_id)
    with shared_bridge.client() as client:
        response = client.post("/starter/sessions/compact", json={"session_id": session_id})
        trace = client.get(f"/starter/sessions/{session_id}/trace").text
    assert response.status_code == 409, response.text
    assert response.json() == {
        "error": "nothing_to_compact",
        "message": "Nothing to compact (session too small)",
    }
    assert '"type":"compaction"' not in trace


def test_compact_summarises_the_session(shared_bridge: BridgeProcess, events: EventStream) -> None:
    # pi estimates 4 characters a token: 100 000 characters are more than the 20 000 tokens
    # pi keeps, so there is something to summarise.
    session_id = prompt(shared_bridge, "[[reply: something to compact]] " + "lorem " * 16_000)
    events.wait_type("agent_end", session_id)
    with shared_bridge.client() as client:
        response = client.post("/starter/sessions/compact", json={"session_id": session_id})
        trace = client.get(f"/starter/sessions/{session_id}/trace").text
    assert response.status_code == 200, response.text
    assert response.json()["result"]["summary"].startswith("SUMMARY:")
    assert '"type":"compaction"' in trace
    with shared_bridge.client() as client:
        again = client.post("/starter/sessions/compact", json={"session_id": session_id})
    assert again.status_code == 409, again.text
    assert again.json()["message"] == "Already compacted"


def test_model_and_thinking_level_switch_via_config(
    shared_bridge: BridgeProcess, events: EventStream, scripted_model_server: ScriptedModelServer
) -> None:
    with shared_bridge.client() as client:
        session_id = client.post("/starter/sessions/new").json()["session_id"]
        response = client.post(
            "/starter/config",
            json={"model": "fake/fake-model-2", "thinking_level": "off", "session_id": session_id},
        )
    assert response.status_code == 200, response.text
    assert response.json()["model"]["id"] == "fake-model-2"
    assert response.json()["thinking_level"] == "off"
    prompt(shared_bridge, "[[reply: on-model-two]] marker-model-two", session_id)
    events.wait_type("agent_end", session_id)
    request = scripted_model_server.wait_for_request(
        lambda body: "marker-model-two" in json.dumps(body.get("messages"))
    )
    assert request["model"] == "fake-model-2"
