"""A small app for the proxy tests: a page, a slow stream, SSE, an echo, a websocket echo.

It runs in a thread on a free loopback port, the way an agent-built app would listen on
the app port inside a Sprite.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

CHUNK_PAUSE = 0.4


async def page(request: Request) -> Response:
    return HTMLResponse("<h1>Sample app</h1>", headers={"x-sample": "yes"})


async def slow_stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"chunk-{number} {time.time():.3f}\n".encode()
            await asyncio.sleep(CHUNK_PAUSE)

    return StreamingResponse(chunks(), media_type="text/plain")


async def events(request: Request) -> Response:
    async def frames() -> AsyncIterator[bytes]:
        for number in range(3):
            yield f"id: {number}\ndata: tick-{number}\n\n".encode()
            await asyncio.sleep(0.1)

    return StreamingResponse(frames(), media_type="text/event-stream")


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": body.decode(),
            "headers": {k.lower(): v for k, v in request.headers.items()},
        },
        headers={"set-cookie": "sample=1; Path=/"},
    )


async def websocket_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(f"echo:{message['text']}")
            else:
                await websocket.send_bytes(b"echo:" + (message.get("bytes") or b""))
    except Exception:
        return


app = Starlette(
    routes=[
        Route("/", page),
        Route("/stream", slow_stream),
        Route("/events", events),
        Route("/echo", echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        WebSocketRoute("/ws", websocket_echo),
    ]
)


class SampleApp:
    """``with SampleApp() as sample: sample.port``: serves ``app`` from a thread."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> SampleApp:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
