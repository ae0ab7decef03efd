"""projects.bridge.events: the one reader of a bridge's event stream, against a server that
speaks the bridge's side of ``GET /starter/events`` (bridge_agent/sse.py) over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from projects.bridge.events import Replay, open_event_stream
from projects.errors import BridgeError
from sprites.backends import BridgeEndpoint

EVENTS = (
    b'id: 5\nevent: agent_start\ndata: {"id":5,"type":"agent_start"}\n\n'
    b": keep-alive\n\n"
    b'id: 6\nevent: agent_end\ndata: {"id":6,"type":"agent_end"}\n\n'
)


class FakeBridge:
    """Answers every request with ``status`` (and, for 200, ``EVENTS``); keeps request heads."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head.decode("latin-1").lower())
        if self.status == 200:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"x-starter-last-event-id: 6\r\nconnection: close\r\n\r\n" + EVENTS
            )
        else:
            writer.write(
                f"HTTP/1.1 {self.status} Nope\r\ncontent-length: 0\r\n"
                "connection: close\r\n\r\n".encode()
            )
        await writer.drain()
        writer.close()


Serve = Callable[[FakeBridge], Awaitable[BridgeEndpoint]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(bridge: FakeBridge) -> BridgeEndpoint:
        server = await asyncio.start_server(bridge.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return BridgeEndpoint(f"http://127.0.0.1:{port}", {"X-Starter-Token": "t"})

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_bridge_is_a_502_bridge_unreachable() -> None:
    endpoint = BridgeEndpoint(f"http://127.0.0.1:{_closed_port()}", {})
    async with httpx.AsyncClient() as http:
        with pytest.raises(BridgeError) as raised:
            await open_event_stream(http, endpoint, None)
    assert (raised.value.status, raised.value.code) == (502, "bridge_unreachable")


async def test_a_refused_stream_is_a_502_bridge_error(serve: Serve) -> None:
    endpoint = await serve(FakeBridge(503))
    async with httpx.AsyncClient() as http:
        with pytest.raises(BridgeError) as raised:
            await open_event_stream(http, endpoint, 3)
    assert (raised.value.status, raised.value.code) == (502, "bridge_error")


async def test_a_stream_resumes_after_the_cursor_and_reports_the_log_position(serve: Serve) -> None:
    bridge = FakeBridge(200)
    endpoint = await serve(bridge)
    async with httpx.AsyncClient() as http:
        async with await open_event_stream(http, endpoint, 4) as stream:
            assert stream.log_position == 6
            events = [event async for batch in stream.batches() for event in batch]
    assert [(event.id, event.type) for event in events] == [(5, "agent_start"), (6, "agent_end")]
    assert events[0].data == '{"id":5,"type":"agent_start"}'
    head = bridge.requests[0]
    assert head.startswith("get /starter/events ")
    assert "last-event-id: 4" in head
    assert "x-starter-token: t" in head


async def test_a_replay_asks_for_replay_only_and_learns_where_the_log_ends(serve: Serve) -> None:
    bridge = FakeBridge(200)
    endpoint = await serve(bridge)
    async with httpx.AsyncClient() as http:
        replay = Replay(http, endpoint, 4)
        ids = [event.id async for event in replay.events()]
    assert ids == [5, 6]
    assert replay.last_id == 6
    assert bridge.requests[0].startswith("get /starter/events?replay_only=1 ")
