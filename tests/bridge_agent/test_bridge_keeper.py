"""The keeper restarts a dead bridge at once, on the same socket, and never spins."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bridge_agent.keeper import RESTART_DELAYS
from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.test_bridge_durability import pid_alive
from tests.bridge_agent.test_bridge_interrupted_runs import start_run
from tests.support.bridge_process import PROJECT_ROOT, EventStream


def test_a_killed_bridge_is_back_at_once_and_requests_meanwhile_wait(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge(keeper=True)
    first = bridge.kept_bridge_pid()
    with EventStream(bridge, after=0) as events:
        session_id = start_run(bridge, events, "[[slow: 300]]")
        events.wait_type("message_update", session_id)
        killed = time.monotonic()
        os.kill(first, signal.SIGKILL)
        # Made while the bridge is down: the keeper's socket holds it until the new bridge
        # serves it (no refusal, no retry).
        response = httpx.get(bridge.url + "/starter/health", timeout=10)
        back_after = time.monotonic() - killed
        seen = events.events[-1]["id"]
    assert response.status_code == 200
    assert back_after < 3.0, back_after
    second = bridge.kept_bridge_pid()
    assert second != first and pid_alive(bridge.process.pid)  # type: ignore[union-attr]
    with EventStream(bridge, last_event_id=seen) as resumed:
        end = resumed.wait_type("agent_end", session_id, timeout=5)
    assert end["data"]["reason"] == "bridge_restarted"
    log = bridge.log_path.read_text()
    assert re.search(
        rf"ERROR bridge_agent\.keeper: the bridge \(pid {first}\) was killed by SIGKILL", log
    ), log[-2000:]


def test_a_bridge_that_cannot_start_is_restarted_with_backoff(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    log_path = tmp_path / "keeper.log"
    environment = {k: v for k, v in os.environ.items() if k != "STARTER_BRIDGE_TOKEN"}
    with listener, log_path.open("wb") as log:
        keeper = subprocess.Popen(
            [
                sys.executable, "-m", "bridge_agent.keeper", "--listen-fd",
                str(listener.fileno()), "--home", str(tmp_path / "home"),
            ],
            cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
        )  # fmt: skip
        try:
            time.sleep(4.0)
            asked = time.monotonic()
            keeper.send_signal(signal.SIGTERM)
            assert keeper.wait(5) == 0
            assert time.monotonic() - asked < 1.5  # a keeper waiting to restart stops at once
        finally:
            if keeper.poll() is None:
                keeper.kill()
                keeper.wait()
    delays = [
        float(delay)
        for delay in re.findall(
            r"ERROR bridge_agent\.keeper: the bridge \(pid \d+\) exited with status 2 after"
            r" [\d.]+ s; restarting it in ([\d.]+) s",
            log_path.read_text(),
        )
    ]
    # Each start fails after its imports (under a second); a keeper without backoff would
    # have started it five or more times in four seconds.
    assert 2 <= len(delays) <= 4, log_path.read_text()
    assert delays == list(RESTART_DELAYS[: len(delays)])


def test_sigterm_stops_the_bridge_and_the_keeper_without_a_restart(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge(keeper=True)
    kept = bridge.kept_bridge_pid()
    assert bridge.stop(signal.SIGTERM) == 0
    deadline = time.monotonic() + 5
    while pid_alive(kept) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(kept)
    assert " ERROR " not in bridge.log_path.read_text()
