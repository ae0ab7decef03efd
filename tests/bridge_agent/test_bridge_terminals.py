"""Terminals in a real bridge: a shell in a PTY with the project's secrets, resize, Ctrl-C,
reattach with the recent output, limits, an exited shell, and abuse of the socket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bridge_agent import protocol
from bridge_agent.terminals import RingBuffer, checked_size
from tests.support.bridge_process import BridgeProcess

SECRET = "terminal-secret-5b1f"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    home = tmp_path_factory.mktemp("terminals") / "home"
    env = {"MY_SECRET": SECRET, "STARTER_ENVIRONMENT_NAMES": "MY_SECRET"}
    process = BridgeProcess(home, env=env).start()
    try:
        yield process
    finally:
        process.stop()


def create(bridge: BridgeProcess, **size: int) -> str:
    with bridge.client() as client:
        response = client.post(protocol.TERMINALS_PATH, json=size)
    assert response.status_code == 201, response.text
    return str(response.json()["terminal"]["id"])


def delete(bridge: BridgeProcess, terminal_id: str) -> None:
    with bridge.client() as client:
        client.delete(protocol.terminal_path(terminal_id))


def open_socket(bridge: BridgeProcess, terminal_id: str) -> ClientConnection:
    url = bridge.url.replace("http", "ws", 1) + protocol.terminal_socket_path(terminal_id)
    return connect(url, additional_headers=bridge.headers, max_size=None)


def read_until(socket: ClientConnection, needle: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} never came; got {seen[-2000:]!r}"
        message = socket.recv(timeout=remaining)
        seen += message if isinstance(message, bytes) else message.encode()
    return seen


def type_line(socket: ClientConnection, line: str) -> None:
    socket.send(json.dumps({"type": "input", "data": line + "\r"}))


def test_a_shell_with_the_secrets_resize_and_ctrl_c(bridge: BridgeProcess) -> None:
    terminal_id = create(bridge, cols=100, rows=30)
    try:
        with open_socket(bridge, terminal_id) as socket:
            # Split so the echo of the typed line does not match by itself.
            type_line(socket, 'echo "S=$MY_SECRET" "T=${STARTER_BRIDGE_TOKEN:-none}"')
            read_until(socket, f"S={SECRET} T=none".encode())
            type_line(socket, "stty size")
            read_until(socket, b"30 100")
            socket.send(json.dumps({"type": "resize", "cols": 132, "rows": 41}))
            type_line(socket, "stty size")
            read_until(socket, b"41 132")
            type_line(socket, "sleep 300; echo after-sleep")
            time.sleep(0.5)
            socket.send(b"\x03")  # a binary frame is input too
            type_line(socket, "echo interrupted-$((40+2))")
            seen = read_until(socket, b"interrupted-42")
            assert b"\nafter-sleep" not in seen  # the list ended with its sleep
            type_line(socket, "test -t 0 && echo tty-$(tput cols)")
            read_until(socket, b"tty-132")
    finally:
        delete(bridge, terminal_id)


def test_reattach_replays_recent_output_to_the_same_shell(bridge: BridgeProcess) -> None:
    terminal_id = create(bridge)
    try:
        with open_socket(bridge, terminal_id) as socket:
            type_line(socket, "KEPT=still-$((6*7)); echo marker-$((1+1))")
            read_until(socket, b"marker-2")
        with open_socket(bridge, terminal_id) as socket:
            first = socket.recv(timeout=5)
            assert isinstance(first, bytes) and b"marker-2" in first
            assert socket.recv(timeout=5) == protocol.TERMINAL_LIVE_FRAME
            type_line(socket, "echo value=$KEPT")
            read_until(socket, b"value=still-42")
        with bridge.client() as client:
            listed = client.get(protocol.TERMINALS_PATH).json()["terminals"]
        assert terminal_id in [terminal["id"] for terminal in listed]
    finally:
        delete(bridge, terminal_id)


def test_an_exited_shell_says_so_and_is_forgotten(bridge: BridgeProcess) -> None:
    terminal_id = create(bridge)
    with open_socket(bridge, terminal_id) as socket:
        type_line(socket, "exit 3")
        exit_frame = None
        with pytest.raises(ConnectionClosed):
            while True:
                message = socket.recv(timeout=10)
                if isinstance(message, str):
                    exit_frame = json.loads(message)
        assert exit_frame == {"type": "exit", "code": 3}
        assert socket.close_code == 1000
    with bridge.client() as client:
        listed = client.get(protocol.TERMINALS_PATH).json()["terminals"]
        assert terminal_id not in [terminal["id"] for terminal in listed]
        assert client.delete(protocol.terminal_path(terminal_id)).status_code == 404
    with open_socket(bridge, terminal_id) as socket:
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)
        assert socket.close_code == protocol.TERMINAL_CLOSE_NOT_FOUND


def test_a_shell_that_exits_ends_even_with_a_job_holding_the_pty(bridge: BridgeProcess) -> None:
    terminal_id = create(bridge)
    with open_socket(bridge, terminal_id) as socket:
        type_line(socket, "sleep 60 & exit 5")
        frames = []
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(socket.recv(timeout=10))
        assert json.loads(frames[-1]) == {"type": "exit", "code": 5}
    with bridge.client() as client:
        listed = client.get(protocol.TERMINALS_PATH).json()["terminals"]
    assert terminal_id not in [terminal["id"] for terminal in listed]


def test_at_most_eight_terminals(bridge: BridgeProcess) -> None:
    ids = [create(bridge) for _ in range(protocol.MAX_TERMINALS)]
    try:
        with bridge.client() as client:
            refused = client.post(protocol.TERMINALS_PATH, json={})
        assert refused.status_code == 409
        assert refused.json()["error"] == "too_many_terminals"
    finally:
        for terminal_id in ids:
            delete(bridge, terminal_id)


@pytest.mark.parametrize(
    "body",
    [{"cols": 0}, {"rows": 100_000}, {"cols": "80"}, {"cols": True}, {"shell": "/bin/sh"}],
)
def test_bad_sizes_and_fields_are_refused(bridge: BridgeProcess, body: dict[str, object]) -> None:
    with bridge.client() as client:
        assert client.post(protocol.TERMINALS_PATH, json=body).status_code == 400


def test_socket_abuse(bridge: BridgeProcess) -> None:
    # Ids that are not the bridge's own never reach a lookup.
    for bad in ["..%2F..", "ABCDEF0123456789", "0" * 17]:
        url = bridge.url.replace("http", "ws", 1) + f"/starter/terminals/{bad}/ws"
        try:
            with connect(url, additional_headers=bridge.headers) as socket:
                with pytest.raises(ConnectionClosed):
                    socket.recv(timeout=5)
                assert socket.close_code == protocol.TERMINAL_CLOSE_NOT_FOUND
        except InvalidStatus as refused:
            assert refused.response.status_code in {403, 404}
    terminal_id = create(bridge)
    try:
        # Without the bridge's token: refused at the handshake.
        url = bridge.url.replace("http", "ws", 1) + protocol.terminal_socket_path(terminal_id)
        with pytest.raises(InvalidStatus) as refused_status:
            connect(url)
        assert refused_status.value.response.status_code == 401
        # A huge input frame ends the socket, not the bridge; the shell lives on.
        with open_socket(bridge, terminal_id) as socket:
            socket.send(b"x" * (protocol.MAX_TERMINAL_INPUT_BYTES + 1))
            with pytest.raises(ConnectionClosed):
                while True:
                    socket.recv(timeout=5)
            assert socket.close_code == 1009
        # Malformed control frames close with 4400.
        with open_socket(bridge, terminal_id) as socket:
            socket.send(json.dumps({"type": "resize", "cols": -1, "rows": 5}))
            with pytest.raises(ConnectionClosed):
                while True:
                    socket.recv(timeout=5)
            assert socket.close_code == 4400
        with open_socket(bridge, terminal_id) as socket:
            type_line(socket, "echo alive-$((2+3))")
            read_until(socket, b"alive-5")
    finally:
        delete(bridge, terminal_id)
    assert httpx.get(f"{bridge.url}/starter/health").status_code == 200


def test_ring_buffer_keeps_the_newest_bytes() -> None:
    ring = RingBuffer(10)
    ring.write(b"abcdef")
    ring.write(b"ghijkl")
    assert ring.contents() == b"cdefghijkl" and len(ring) == 10
    ring.write(b"0123456789ABC")
    assert ring.contents() == b"3456789ABC"
    assert checked_size(80, 24) == (80, 24)
    with pytest.raises(ValueError):
        checked_size(80, 0)


def test_a_flood_of_output_is_bounded_on_replay(bridge: BridgeProcess, tmp_path: Path) -> None:
    terminal_id = create(bridge)
    try:
        with open_socket(bridge, terminal_id) as socket:
            type_line(socket, "head -c 2000000 /dev/zero | tr '\\0' 'y'; echo; echo flood-$((3*3))")
            read_until(socket, b"flood-9", timeout=30)
        with open_socket(bridge, terminal_id) as socket:
            first = socket.recv(timeout=5)
            assert isinstance(first, bytes)
            assert len(first) <= protocol.TERMINAL_BUFFER_BYTES
            assert b"flood-9" in first
    finally:
        delete(bridge, terminal_id)
