"""What both reverse proxies share: which headers stop at a proxy, streaming a response
body, noticing the client leave, and relaying a websocket both ways until one side ends.

Used by the bridge's reverse proxy (``bridge_agent/proxy.py``: to the agent's app inside
the Sprite) and by the control plane's preview proxy (``projects/preview/proxy.py``: to the
bridge). Their HTTP clients differ (the bridge's own pool, httpx in the control plane), so
each brings its response body as an async iterator of bytes. This module lives in the
bridge's package because the bridge runs without Django and cannot import the control plane;
it needs only asyncio, websockets and the ASGI message shapes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bridge_agent.concurrency import until_first_done

Receive = Any  # ASGI callables; typed loosely so both Starlette and Channels code can pass theirs
Send = Any

# 1005/1006 describe a missing close frame and may not be sent on the wire.
NO_CLOSE_FRAME = (None, 1005, 1006)

# Headers that describe one connection, not the message (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The websocket client library writes its own handshake: the browser's must not go along.
WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
        b"content-length",
    }
)


def connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """Headers named in ``Connection`` are hop-by-hop too (RFC 9110 section 7.6.1)."""
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return named


def end_to_end(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` without the hop-by-hop ones (fixed and named in ``Connection``)."""
    excluded = HOP_BY_HOP | connection_tokens(headers)
    return [(name, value) for name, value in headers if name.lower() not in excluded]


async def stream_body(chunks: AsyncIterable[bytes], send: Send) -> None:
    """Send a response body as it arrives, then its end."""
    async for chunk in chunks:
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def wait_disconnect(receive: Receive) -> None:
    """Returns when the client has gone. Only for after the request body is read: without
    it, an endless upstream stream (SSE) would never stop."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def pump(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    """After ``websocket.accept``: copy messages both ways; when either side ends, end both."""
    try:
        await until_first_done(
            _client_to_upstream(receive, upstream), _upstream_to_client(upstream, send)
        )
    finally:
        with contextlib.suppress(Exception):
            await upstream.close()


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            await upstream.send(text if text is not None else message.get("bytes") or b"")
        elif message["type"] == "websocket.disconnect":
            await upstream.close(code=int(message.get("code", 1000)))
            return


async def _upstream_to_client(upstream: ClientConnection, send: Send) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    code = upstream.close_code
    await send(
        {
            "type": "websocket.close",
            "code": 1000 if code in NO_CLOSE_FRAME else code,
            "reason": upstream.close_reason or "",
        }
    )
