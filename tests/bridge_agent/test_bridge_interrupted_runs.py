"""A run that pi cannot end (the bridge or pi died mid-run) is ended once, as interrupted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from typing import Any

from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.test_bridge_durability import run_prompt
from tests.support.bridge_process import BridgeProcess, EventStream

Envelope = dict[str, Any]


def stored_events(bridge: BridgeProcess) -> list[Envelope]:
    """The bridge's whole log, read from its SQLite file (the bridge may be down)."""
    with sqlite3.connect(bridge.home / ".starter" / "events.db") as log:
        rows = log.execute("SELECT id, session_id, type, data FROM events ORDER BY id").fetchall()
    return [
        {"id": row[0], "session_id": row[1], "type": row[2], "data": json.loads(row[3])}
        for row in rows
    ]


def start_run(bridge: BridgeProcess, events: EventStream, message: str) -> str:
    start = len(events.events)
    with bridge.client() as client:
        response = client.post("/starter/prompt", json={"message": message})
    assert response.status_code == 202, response.text
    session_id = str(response.json()["session_id"])
    events.wait_type("agent_start", session_id, start=start)
    return session_id


def wait_count(events: EventStream, predicate: Any, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(1 for e in list(events.events) if predicate(e)) < count:
        assert time.monotonic() < deadline, [e["type"] for e in events.events[-20:]]
        time.sleep(0.02)


def ends_after(log: list[Envelope], session_id: str, start_id: int) -> list[Envelope]:
    return [
        e
        for e in log
        if e["type"] == "agent_end" and e["session_id"] == session_id and e["id"] > start_id
    ]


def test_a_run_cut_by_a_bridge_kill_ends_once_as_interrupted(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    with EventStream(bridge, after=0) as follower:
        session_id = run_prompt(bridge, follower, "[[reply: a run that ends normally]]")
        normal_end = follower.of_type("agent_end")[-1]
        start_run(bridge, follower, "[[slow: 300]]")
        wait_count(follower, lambda e: e["type"] == "message_update", 8)
        bridge.kill()
        assert follower.ended.wait(5)
        seen = list(follower.events)
    cut_start = next(e for e in reversed(seen) if e["type"] == "agent_start")

    restarted = start_bridge(bridge.home)
    with EventStream(restarted, last_event_id=seen[-1]["id"]) as resumed:
        end = resumed.wait_type("agent_end", session_id, timeout=10)
        resumed.wait_type("error", session_id, start=resumed.events.index(end))
        with restarted.client() as client:
            state = client.get("/starter/state").json()
        following = list(resumed.events)

    log = stored_events(restarted)
    # The follower saw every stored event exactly once, across the kill.
    assert [e["id"] for e in seen + following] == [e["id"] for e in log]
    assert ends_after(log, session_id, normal_end["id"]) == [
        {k: end[k] for k in ("id", "session_id", "type", "data")}
    ]
    assert end["id"] > cut_start["id"]
    assert end["data"]["interrupted"] is True
    assert end["data"]["reason"] == "bridge_restarted"
    # pi's last known state, from the log: the prompt it finished, the text it was writing.
    run = [
        e for e in log if e["session_id"] == session_id and cut_start["id"] <= e["id"] < end["id"]
    ]
    streamed = "".join(
        e["data"]["assistantMessageEvent"].get("delta", "")
        for e in run
        if e["type"] == "message_update"
    )
    assert streamed.startswith("tick0") and end["data"]["unfinished_message"]["text"] == streamed
    assert end["data"]["unfinished_message"]["role"] == "assistant"
    assert [m["role"] for m in end["data"]["messages"]] == ["user"]
    assert end["data"]["last_event_id"] == run[-1]["id"]
    assert "bridge restarted" in end["data"]["message"]
    assert "interrupted" not in normal_end["data"]
    assert state["busy"] is False

    # Later restarts, clean or not, find the run ended: no second end.
    restarted.stop()
    again = start_bridge(bridge.home)
    again.kill()
    once_more = start_bridge(bridge.home)
    with EventStream(once_more, after=0) as everything:
        # The replay of the two ends already in the log must be in before the new run:
        # run_prompt waits for an agent_end after the events seen so far.
        deadline = time.monotonic() + 10
        while sum(e["type"] == "agent_end" for e in everything.events) < 2:
            assert time.monotonic() < deadline, everything.events
            time.sleep(0.05)
        run_prompt(once_more, everything, "[[reply: after the restarts]]")
        ends = [e for e in everything.events if e["type"] == "agent_end"]
    assert [e["data"].get("reason") for e in ends] == [None, "bridge_restarted", None]


def test_pi_dying_mid_tool_ends_the_run_as_interrupted(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    with EventStream(bridge, after=0) as events:
        session_id = start_run(bridge, events, "[[bash: sleep 30]]")
        tool = events.wait_type("tool_start", session_id)
        pi_pid = events.of_type("session_started")[-1]["data"]["pid"]
        os.kill(pi_pid, signal.SIGKILL)
        end = events.wait_type("agent_end", session_id)
        crashed = events.wait_type("session_ended", session_id)
        after_crash = len(events.events)
        run_prompt(bridge, events, "[[reply: back again]]")
        types = [e["type"] for e in events.events if e["id"] > end["id"]]
    assert end["data"]["interrupted"] is True and end["data"]["reason"] == "agent_exited"
    assert end["data"]["running_tools"] == [
        {k: tool["data"][k] for k in ("toolCallId", "toolName", "args")}
    ]
    assert end["data"]["unfinished_message"] is None
    assert crashed["data"]["reason"] == "crashed"
    # Ended first, then the crash is told; the next prompt's run ends normally, once.
    assert types[:2] == ["error", "session_ended"]
    log = stored_events(bridge)
    assert [e["data"].get("reason") for e in log if e["type"] == "agent_end"] == [
        "agent_exited",
        None,
    ]
    assert len(events.events) > after_crash


def test_a_run_going_at_shutdown_ends_before_the_session(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    with EventStream(bridge, after=0) as events:
        session_id = start_run(bridge, events, "[[slow: 300]]")
        events.wait_type("message_update", session_id)
        assert bridge.stop(signal.SIGTERM) == 0
    tail = [(e["type"], e["data"].get("reason")) for e in stored_events(bridge)[-2:]]
    assert tail == [("agent_end", "bridge_stopped"), ("session_ended", "shutdown")]
    restarted = start_bridge(bridge.home)
    restarted.stop()
    assert [e["type"] for e in stored_events(bridge)].count("agent_end") == 1
