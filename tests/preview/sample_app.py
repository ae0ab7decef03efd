"""The "app the agent built", for preview tests: HTTP pages and a websocket echo on one port,
run on a thread of its own with the `websockets` server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from http import HTTPStatus

from django.conf import settings
from websockets.asyncio.server import Request, Response, Server, ServerConnection, serve
from websockets.datastructures import Headers

from projects.preview_links import COOKIE_NAME
from tests.support.live_stack import free_port

PAGE = "<!doctype html><title>Agent app</title><h1 id=app>Hello from the agent's app</h1>"
# What /set-cookies answers: a cookie for the whole preview domain (every project's preview,
# were it kept), a host-only one, and an attempt at the platform's own preview cookie.
SET_COOKIES = [
    f"shared=1; Domain={settings.STARTER_PREVIEW_DOMAIN}; Path=/; SameSite=Lax",
    f"dotted=1; domain=.{settings.STARTER_PREVIEW_DOMAIN}; Path=/",
    "own=1; Path=/; SameSite=Lax",
    f"{COOKIE_NAME}=forged; Path=/",
]


class SampleApp:
    def __init__(self) -> None:
        self.port = free_port()
        self.seen_headers: list[dict[str, str]] = []
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(self._start())
        self._started.set()
        self._loop.run_forever()

    async def _start(self) -> Server:
        return await serve(self._echo, "127.0.0.1", self.port, process_request=self._http)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        self.seen_headers.append({k.lower(): v for k, v in request.headers.raw_items()})
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        cookies: list[str] = []
        if request.path == "/headers":
            body = json.dumps(self.seen_headers[-1]).encode()
            kind = "application/json"
        else:
            body, kind = PAGE.encode(), "text/html; charset=utf-8"
            if request.path == "/set-cookies":
                cookies = SET_COOKIES
        headers = Headers({"Content-Type": kind, "Content-Length": str(len(body))})
        for cookie in cookies:
            headers["Set-Cookie"] = cookie  # Headers keeps every value of a repeated name
        return Response(HTTPStatus.OK.value, "OK", headers, body)

    async def _echo(self, connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(f"echo: {message}")

    def __enter__(self) -> SampleApp:
        self._thread.start()
        if not self._started.wait(10):
            raise TimeoutError("the sample app did not start")
        return self

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            # A connection the bridge's proxy keeps alive must not hold the test up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        # Whatever is still running (such a connection's handler, the server's own closing)
        # ends here, not as "Task was destroyed but it is pending" when the loop is dropped.
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
