"""Events and sessions survive reconnects, bridge kills, pi crashes, idling and shutdown."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from tests.bridge_agent.conftest import StartBridge
from tests.support.bridge_process import BridgeProcess, EventStream


def run_prompt(bridge: BridgeProcess, events: EventStream, message: str) -> str:
    start = len(events.events)
    with bridge.client() as client:
        response = client.post("/starter/prompt", json={"message": message})
    assert response.status_code == 202, response.text
    session_id = str(response.json()["session_id"])
    # pi 1.x: agent_settled follows agent_end and is the run's last event.
    events.wait_type("agent_settled", session_id, start=start)
    return session_id


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive either
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_last_event_id_replays_exactly_the_missed_events(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    with EventStream(bridge, after=0) as everything:
        run_prompt(bridge, everything, "[[bash: echo replay-me]]")
        seen = list(everything.events)
    cursor = seen[len(seen) // 2]["id"]
    with EventStream(bridge, last_event_id=cursor) as resumed:
        resumed.wait_for(lambda e: e["id"] == seen[-1]["id"])
        assert resumed.events == seen[len(seen) // 2 + 1 :]
    with EventStream(bridge, after=cursor) as by_query:
        by_query.wait_for(lambda e: e["id"] == seen[-1]["id"])
        assert [e["id"] for e in by_query.events] == [e["id"] for e in seen if e["id"] > cursor]
    with EventStream(bridge) as live_only:
        time.sleep(0.3)
        assert live_only.events == []


def test_ids_continue_and_replay_after_the_bridge_is_killed(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    with EventStream(bridge, after=0) as events:
        session_id = run_prompt(bridge, events, "[[bash: echo before-kill]]")
        before = list(events.events)
    pi_pid = next(e for e in before if e["type"] == "session_started")["data"]["pid"]
    bridge.kill()
    deadline = time.monotonic() + 10
    while pid_alive(pi_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pi_pid)  # pi saw EOF on stdin and exited by itself

    restarted = start_bridge(bridge.home, prewarm=True)
    with EventStream(restarted, last_event_id=before[2]["id"]) as events:
        # The old events replay exactly, then the waking bridge continues the last session.
        resumed = events.wait_type("session_started")
        assert events.events[: len(before) - 3] == before[3:]
        assert resumed["id"] > before[-1]["id"]
        assert resumed["session_id"] == session_id
        assert resumed["data"]["reason"] == "resumed"
        run_prompt(restarted, events, "[[bash: echo after-restart]]")
        ids = events.ids
        assert ids == sorted(set(ids))
    with restarted.client() as client:
        history = client.get("/starter/messages").json()["messages"]
    texts = [part.get("text", "") for m in history for part in m.get("content", [])]
    assert "[[bash: echo before-kill]]" in texts and "[[bash: echo after-restart]]" in texts


def test_cursor_ahead_of_or_older_than_the_log_gets_reset_first(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    with EventStream(bridge, after=0) as events:
        run_prompt(bridge, events, "[[reply: fill the log]]")
        last = events.events[-1]["id"]
    with EventStream(bridge, last_event_id=last + 500) as ahead:
        reset = ahead.wait_type("reset")
        assert ahead.events[0] == reset
        assert reset["data"]["reason"] == "cursor_ahead_of_log"
        assert reset["id"] == last
    bridge.stop()
    # Old events pruned away (as retention does), then the bridge comes back.
    with sqlite3.connect(bridge.home / ".starter" / "events.db") as log:
        log.execute("DELETE FROM events WHERE id <= 5")
    restarted = start_bridge(bridge.home)
    with EventStream(restarted, last_event_id=2) as old:
        reset = old.wait_type("reset")
        assert old.events[0] == reset
        assert reset["data"]["reason"] == "cursor_older_than_log"
        assert reset["data"]["first_kept_id"] == 6


def test_crashed_pi_is_reported_and_restarted_without_losing_the_session(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    with EventStream(bridge) as events:
        session_id = run_prompt(bridge, events, "[[bash: echo remember-me]]")
        with bridge.client() as client:
            pid = client.get("/starter/state").json()
        started = events.of_type("session_started")
        pi_pid = started[-1]["data"]["pid"]
        os.kill(pi_pid, signal.SIGKILL)
        error = events.wait_type("error", session_id)
        assert "exited unexpectedly" in error["data"]["message"]
        assert events.wait_type("session_ended", session_id)["data"]["reason"] == "crashed"
        run_prompt(bridge, events, "[[reply: back again]]")
        restarted = events.of_type("session_started")[-1]
        assert restarted["session_id"] == session_id
        assert restarted["data"]["reason"] == "resumed"
        assert restarted["data"]["pid"] != pi_pid
    with bridge.client() as client:
        history = client.get("/starter/messages").json()["messages"]
    texts = [part.get("text", "") for m in history for part in m.get("content", [])]
    assert "[[bash: echo remember-me]]" in texts and "back again" in texts
    assert pid["session_id"] == session_id


def test_idle_session_stops_and_resumes_on_the_next_command(start_bridge: StartBridge) -> None:
    bridge = start_bridge(idle_timeout=1.0)
    with EventStream(bridge) as events:
        session_id = run_prompt(bridge, events, "[[reply: first]]")
        pi_pid = events.of_type("session_started")[-1]["data"]["pid"]
        ended = events.wait_type("session_ended", session_id, timeout=10)
        assert ended["data"]["reason"] == "idle"
        assert not pid_alive(pi_pid)
        with bridge.client() as client:
            state = client.get("/starter/state").json()
        assert state["session_id"] == session_id
        assert state["live"] is False and state["live_sessions"] == []
        run_prompt(bridge, events, "[[reply: second]]")
        assert events.of_type("session_started")[-1]["data"]["reason"] == "resumed"
    with bridge.client() as client:
        history = client.get("/starter/messages").json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]


def test_sigterm_ends_open_streams_and_reaps_pi(start_bridge: StartBridge) -> None:
    bridge = start_bridge(prewarm=True, keepalive=30)
    stream = EventStream(bridge, after=0).start()
    started = stream.wait_type("session_started")
    asked = time.monotonic()
    assert bridge.stop(signal.SIGTERM) == 0
    assert time.monotonic() - asked < 5  # the open event stream did not hold shutdown up
    assert stream.ended.wait(2)
    stream.close()
    assert not pid_alive(started["data"]["pid"])
    with sqlite3.connect(bridge.home / ".starter" / "events.db") as log:
        last = log.execute("SELECT type, data FROM events ORDER BY id DESC LIMIT 1").fetchone()
        mode = log.execute("PRAGMA journal_mode").fetchone()[0]
    assert last[0] == "session_ended" and '"shutdown"' in last[1]
    assert mode == "wal"


def test_missing_pi_binary_is_a_503_and_an_error_event(start_bridge: StartBridge) -> None:
    bridge = start_bridge(env={"STARTER_PI_BIN": "/nonexistent/pi"})
    with EventStream(bridge) as events, bridge.client() as client:
        response = client.post("/starter/prompt", json={"message": "hello"})
        assert response.status_code == 503
        assert response.json()["error"] == "agent_unavailable"
        assert "could not start" in response.json()["message"]
        assert "pi did not start" in events.wait_type("error")["data"]["message"]
        assert client.get("/starter/health").status_code == 200


def test_pi_on_a_node_older_than_22_19_is_a_503_that_names_the_versions(
    start_bridge: StartBridge, tmp_path: Path
) -> None:
    """pi 1.x on Node 20 dies with a SyntaxError about `enableCompileCache`; the person
    reads which Node is too old instead."""
    old_node = tmp_path / "node"
    old_node.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo v20.20.2; exit 0; fi\n'
        "echo \"SyntaxError: The requested module 'node:module' does not provide an export"
        " named 'enableCompileCache'\" >&2\n"
        "exit 1\n"
    )
    old_node.chmod(0o755)
    bridge = start_bridge(env={"STARTER_NODE_BIN": str(old_node)})
    with bridge.client() as client:
        response = client.post("/starter/prompt", json={"message": "hello"})
    assert response.status_code == 503, response.text
    message = response.json()["message"]
    assert f"pi needs Node 22.19 or newer; {old_node} is v20.20.2" in message
    assert "enableCompileCache" in message
