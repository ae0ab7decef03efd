"""The proxy's upstream client: keep-alive reuse, and a retry when the app dropped it idle."""

from __future__ import annotations

import asyncio

import pytest

from bridge_agent.app_client import UpstreamPool, UpstreamUnavailable

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"


async def serve(close_after_each: bool) -> tuple[asyncio.Server, list[int]]:
    """An app that answers every request; optionally it drops the connection afterwards
    without saying so, as a server does when its keep-alive timeout fires."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            writer.write(RESPONSE)
            await writer.drain()
            if close_after_each:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, connections


async def fetch(pool: UpstreamPool, port: int) -> bytes:
    response = await pool.request(port, "GET", b"/", [(b"host", b"localhost")], None, None)
    body = b"".join([chunk async for chunk in response.body()])
    response.release()
    return body


async def test_connections_are_reused() -> None:
    server, connections = await serve(close_after_each=False)
    port = server.sockets[0].getsockname()[1]
    pool = UpstreamPool()
    assert [await fetch(pool, port) for _ in range(5)] == [b"hello"] * 5
    assert len(connections) == 1
    pool.close()
    server.close()


async def test_a_connection_dropped_while_idle_is_retried_on_a_fresh_one() -> None:
    server, connections = await serve(close_after_each=True)
    port = server.sockets[0].getsockname()[1]
    pool = UpstreamPool()
    for _ in range(3):
        assert await fetch(pool, port) == b"hello"
    assert len(connections) == 3
    pool.close()
    server.close()


async def test_nothing_listening_is_unavailable() -> None:
    server, _ = await serve(close_after_each=False)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(UpstreamUnavailable):
        await fetch(UpstreamPool(), port)
