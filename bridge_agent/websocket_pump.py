"""Relaying an accepted ASGI websocket to an upstream websocket, both ways, until one ends.

Used by the bridge's reverse proxy (to the agent's app inside the Sprite) and by the control
plane's preview proxy (to the bridge). It lives in the bridge's package because the bridge
runs without Django and cannot import the control plane; this module needs only asyncio,
websockets and the ASGI message shapes.
"""

from __future__ import annotations

import contextlib
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bridge_agent.concurrency import until_first_done

Receive = Any  # ASGI callables; typed loosely so both Starlette and Channels code can pass theirs
Send = Any

# 1005/1006 describe a missing close frame and may not be sent on the wire.
NO_CLOSE_FRAME = (None, 1005, 1006)


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
