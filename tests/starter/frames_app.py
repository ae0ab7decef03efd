"""A bare ASGI app for tests of the web process (tests/starter/test_web_server.py).

``GET /chunks?frames=N&size=S`` streams the same frames as one HTTP body, a chunk each.
On a websocket, it answers ``{"frames": N, "size": S}`` with N text frames of S bytes each,
sent back to back without waiting for the client, then what the process runs on:
``{"pid": ..., "loop": <event loop module>, "write_through": <patched?>}``.
Frame k is the digit ``k % 10`` repeated, prefixed with ``k:``, so a client can tell a frame
lost, cut or out of order.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any


def frame(number: int, size: int) -> str:
    prefix = f"{number}:"
    return prefix + str(number % 10) * (size - len(prefix))


async def stream_chunks(scope: dict[str, Any], send: Any) -> None:
    """``GET /chunks?frames=N&size=S``: the frames as one streamed HTTP body (a chunk each,
    newline-terminated), sent back to back; ``x-write-through`` says whether HTTP writes are
    write-through in this process."""
    from twisted.web import http

    query = dict(part.split("=", 1) for part in scope["query_string"].decode().split("&"))
    patched = getattr(http.HTTPChannel, "_starter_write_through", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"x-write-through", str(patched).lower().encode())],
        }
    )
    for number in range(int(query["frames"])):
        body = (frame(number, int(query["size"])) + "\n").encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "http" and scope["path"] == "/chunks":
        await stream_chunks(scope, send)
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        request = json.loads(message["text"])
        for number in range(request["frames"]):
            await send({"type": "websocket.send", "text": frame(number, request["size"])})
        from daphne.ws_protocol import WebSocketProtocol

        facts = {
            "pid": os.getpid(),
            "loop": type(asyncio.get_running_loop()).__module__,
            "write_through": getattr(WebSocketProtocol, "_starter_write_through", False),
        }
        await send({"type": "websocket.send", "text": json.dumps(facts)})
