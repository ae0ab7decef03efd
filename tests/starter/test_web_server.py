"""The web process (starter/web_server.py): daphne on uvloop with write-through websocket sends.

A real ``python -m starter.web_server`` serves a bare ASGI app that sends frames back to back;
a client checks every frame arrives whole, once and in order, including when it stops
reading long enough for the socket to fill (partial sends, then Twisted's own buffer).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.starter.frames_app import frame
from tests.support.live_stack import free_port, web_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("web-server") / "web.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            web_command(port, "tests.starter.frames_app:application"),
            cwd=ROOT,
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
        yield f"ws://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(15)
    assert "Traceback" not in log.read_text(), log.read_text()


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
    assert facts == {"loop": "uvloop", "write_through": True}


def test_large_frames_behind_a_full_socket_arrive_whole_and_in_order(server: str) -> None:
    # Just under daphne's 1 MiB frame limit.
    receive_all(server, frames=24, size=1_000_003, pause=1.0)


def test_many_frames_to_a_slow_reader_arrive_in_order(server: str) -> None:
    receive_all(server, frames=20_000, size=512, pause=0.5)
