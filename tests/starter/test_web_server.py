"""The web process (starter/web_server.py): daphne on uvloop with write-through websocket sends.

A real ``python -m starter.web_server`` serves a bare ASGI app that sends frames back to back;
a client checks every frame arrives whole, once and in order, including when it stops
reading long enough for the socket to fill (partial sends, then Twisted's own buffer).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.starter.frames_app import frame
from tests.support.live_stack import free_port, web_command

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_web_server(
    log: Path, processes: int = 1
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m starter.web_server`` serving frames_app; its URL and process."""
    port = free_port()
    environment = {**os.environ, "STARTER_WEB_PROCESSES": str(processes)}
    with log.open("w") as output:
        process = subprocess.Popen(
            web_command(port, "tests.starter.frames_app:application"),
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/", process
    finally:
        process.terminate()
        process.wait(30)
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_web_server(tmp_path_factory.mktemp("web-server") / "web.log") as (url, _):
        yield url


def receive_all(url: str, frames: int, size: int, pause: float = 0.0) -> dict[str, object]:
    with connect(url, max_size=None) as websocket:
        websocket.send(json.dumps({"frames": frames, "size": size}))
        # Not reading for a while lets the server's socket fill: later sends are partial or
        # queued behind Twisted's buffer, the path write-through must keep in order.
        time.sleep(pause)
        for number in range(frames):
            received = websocket.recv(timeout=30)
            assert received == frame(number, size), f"frame {number} differs"
        facts = json.loads(websocket.recv(timeout=30))
        assert isinstance(facts, dict)
        return facts


def test_runs_on_uvloop_with_write_through(server: str) -> None:
    facts = receive_all(server, frames=2000, size=200)
    assert facts["loop"] == "uvloop"
    assert facts["write_through"] is True


def test_streamed_http_chunks_arrive_whole_and_in_order_write_through(server: str) -> None:
    """HTTP responses are write-through too (the model gateway streams one write per chunk):
    a body read slowly at first, so the socket fills, still arrives whole and in order."""
    url = server.replace("ws://", "http://") + "chunks?frames=3000&size=700"
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.headers["x-write-through"] == "true"
        time.sleep(0.5)
        lines = b"".join(response.iter_raw()).decode().splitlines()
    assert lines == [frame(number, 700) for number in range(3000)]


def test_large_frames_behind_a_full_socket_arrive_whole_and_in_order(server: str) -> None:
    # Just under daphne's 1 MiB frame limit.
    receive_all(server, frames=24, size=1_000_003, pause=1.0)


def test_many_frames_to_a_slow_reader_arrive_in_order(server: str) -> None:
    receive_all(server, frames=20_000, size=512, pause=0.5)


def served_by(url: str) -> int:
    facts = receive_all(url, frames=1, size=10)
    pid = facts["pid"]
    assert isinstance(pid, int)
    return pid


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_several_processes_share_the_port_are_restarted_and_stop_together(
    tmp_path: Path,
) -> None:
    with running_web_server(tmp_path / "web.log", processes=2) as (url, supervisor):
        pids: set[int] = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(served_by(url))
        assert len(pids) == 2, "connections should reach both web processes"
        assert supervisor.pid not in pids

        # A web process that dies is replaced; the port keeps answering meanwhile.
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        fresh: set[int] = set()
        deadline = time.monotonic() + 30
        while len(fresh - pids) < 1 and time.monotonic() < deadline:
            fresh.add(served_by(url))
        assert fresh - pids, "no new web process took the dead one's place"
        assert victim not in fresh
        children = (pids | fresh) - {victim}

    assert supervisor.returncode == 0
    assert not [pid for pid in children if alive(pid)], "web processes outlived the supervisor"


def start_and_wait(application: str, processes: str) -> subprocess.CompletedProcess[str]:
    """Run the web command to its end (for configurations that must make it stop)."""
    return subprocess.run(
        web_command(free_port(), application),
        cwd=ROOT,
        env={**os.environ, "STARTER_WEB_PROCESSES": processes},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_process_count_is_refused_clearly() -> None:
    answer = start_and_wait("tests.starter.frames_app:application", processes="many")
    assert answer.returncode != 0
    assert "STARTER_WEB_PROCESSES must be a whole number" in answer.stderr


def test_processes_that_keep_failing_at_start_stop_the_supervisor_with_an_error() -> None:
    # An application that cannot be imported: every web process exits at once.
    answer = start_and_wait("tests.starter.no_such_module:application", processes="2")
    assert answer.returncode == 1
    assert "keep exiting at start" in answer.stderr
