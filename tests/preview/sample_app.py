"""The "app the agent built", for preview tests: HTTP pages and a websocket echo on one port,
run inside the project's Sprite as the agent would run it.

A sandboxed Sprite reaches nothing on this machine's loopback but itself, so the app
cannot live in the test process: ``SampleApp`` writes this very file into the Sprite's
home and starts it there with ``exec`` (``python3 sample_app.py PORT DOMAIN COOKIE``); the
script part below imports only ``websockets``, which the Sprite's Python finds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any

PAGE = "<!doctype html><title>Agent app</title><h1 id=app>Hello from the agent's app</h1>"
SCRIPT_NAME = "sample_app.py"


def set_cookie_headers(preview_domain: str, cookie_name: str) -> list[str]:
    """What /set-cookies answers: a cookie for the whole preview domain (every project's
    preview, were it kept), a host-only one, and an attempt at the platform's own cookie."""
    return [
        f"shared=1; Domain={preview_domain}; Path=/; SameSite=Lax",
        f"dotted=1; domain=.{preview_domain}; Path=/",
        "own=1; Path=/; SameSite=Lax",
        f"{cookie_name}=forged; Path=/",
    ]


async def serve_forever(port: int, preview_domain: str, cookie_name: str) -> None:
    from websockets.asyncio.server import Request, Response, ServerConnection, serve
    from websockets.datastructures import Headers

    def http(connection: ServerConnection, request: Request) -> Response | None:
        seen = {k.lower(): v for k, v in request.headers.raw_items()}
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        cookies: list[str] = []
        if request.path == "/headers":
            body, kind = json.dumps(seen).encode(), "application/json"
        else:
            body, kind = PAGE.encode(), "text/html; charset=utf-8"
            if request.path == "/set-cookies":
                cookies = set_cookie_headers(preview_domain, cookie_name)
        headers = Headers({"Content-Type": kind, "Content-Length": str(len(body))})
        for cookie in cookies:
            headers["Set-Cookie"] = cookie  # Headers keeps every value of a repeated name
        return Response(HTTPStatus.OK.value, "OK", headers, body)

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(f"echo: {message}")

    async with serve(echo, "127.0.0.1", port, process_request=http):
        await asyncio.Future()


class SampleApp:
    """``with SampleApp(project) as app``: the app runs in the project's Sprite on
    ``app.port`` (its own port 3000 by default: no other Sprite shares it)."""

    def __init__(self, project: Any, port: int = 3000) -> None:
        self.project = project
        self.port = port

    def _exec(self, command: str, timeout: float = 20) -> str:
        from projects.sprite.backend import backend_for
        from sprites.backends import run_sync

        backend = backend_for(self.project)
        result = run_sync(backend.exec(self.project.sprite_name, command, timeout=timeout))
        return (result.stdout + result.stderr).decode(errors="replace")

    def __enter__(self) -> SampleApp:
        from django.conf import settings

        from projects.preview.links import COOKIE_NAME
        from projects.sprite.backend import backend_for
        from sprites.backends import run_sync

        backend = backend_for(self.project)
        source = Path(__file__).read_bytes()
        run_sync(backend.write_file(self.project.sprite_name, SCRIPT_NAME, source))
        self._exec(
            f"nohup python3 {SCRIPT_NAME} {self.port} {settings.STARTER_PREVIEW_DOMAIN}"
            f" {COOKIE_NAME} > sample_app-{self.port}.log 2>&1"
            f" & echo $! > sample_app-{self.port}.pid"
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answer = self._exec(f"curl -s -m 2 http://127.0.0.1:{self.port}/ || true", 10)
            if "Hello from the agent's app" in answer:
                return self
            time.sleep(0.2)
        raise TimeoutError(
            "the sample app did not start in the Sprite: "
            + self._exec(f"cat sample_app-{self.port}.log")
        )

    def __exit__(self, *exc_info: object) -> None:
        pid_file = f"sample_app-{self.port}.pid"
        self._exec(f"kill $(cat {pid_file}) 2>/dev/null; rm -f {pid_file}; true")


if __name__ == "__main__":
    asyncio.run(serve_forever(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
