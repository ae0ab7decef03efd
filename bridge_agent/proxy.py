"""Reverse proxy: every path outside ``/starter/`` streams to ``127.0.0.1:<app_port>``.

Bodies stream both ways without buffering (uploads, chunked and SSE responses), websockets are
relayed frame by frame (dev servers use them for hot reload), hop-by-hop headers are dropped,
and the bridge token never reaches the app. Nothing listening gives a friendly placeholder.

``Host`` is rewritten to ``localhost:<port>`` because dev servers (Vite, Django's runserver)
refuse unknown hosts; the public host travels in ``X-Forwarded-Host``.

A request may name another port with ``APP_PORT_HEADER`` (a preview per port, issue 15). Every
request here already passed the token check (``auth.TokenAuthMiddleware`` wraps the proxy), so
only the control plane can send it; the preview proxy drops a browser's copy and sets its own
from the preview host. The bridge's own port and anything outside 1 to 65535 are refused (400),
so the header cannot loop a request back into the bridge; the header never reaches the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import websockets
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect as websocket_connect

from bridge_agent import asgi_proxy
from bridge_agent.app_client import (
    UpstreamError,
    UpstreamPool,
    UpstreamUnavailable,
)
from bridge_agent.app_target import AppTarget
from bridge_agent.auth import TOKEN_HEADER, is_bridge_authorization
from bridge_agent.concurrency import until_first_done
from bridge_agent.protocol import APP_PORT_HEADER

logger = logging.getLogger("bridge_agent.proxy")

# The handshake's Host is rewritten like every request's (see the module's docstring).
WEBSOCKET_HANDSHAKE = asgi_proxy.WEBSOCKET_HANDSHAKE | {b"host"}

# Framing headers are rebuilt by the upstream client; ``expect`` was already answered by
# uvicorn (it sends 100 Continue when the body is read).
HTTP_REQUEST_EXCLUDED = frozenset({b"content-length", b"expect"})
PORT_HEADER = APP_PORT_HEADER.encode()
MAX_PORT_HEADER_CHARS = 5


class PortRefused(Exception):
    """The port a request named is not one the proxy may forward to."""


def requested_port(
    headers: list[tuple[bytes, bytes]], default_port: int, bridge_ports: set[int]
) -> int:
    """The app port a request asks for: ``APP_PORT_HEADER`` when present, else ``default_port``.

    Raises PortRefused for a value that is not a plain port number in 1 to 65535, for the
    bridge's own port, and for a header sent twice (two values would be ambiguous).
    """
    values = [value for name, value in headers if name.lower() == PORT_HEADER]
    if not values:
        return default_port
    if len(values) > 1:
        raise PortRefused("Send one app port, not several.")
    raw = values[0].strip()
    if not raw.isdigit() or len(raw) > MAX_PORT_HEADER_CHARS:
        raise PortRefused("The app port must be a number from 1 to 65535.")
    port = int(raw)
    if not 1 <= port <= 65535:
        raise PortRefused("The app port must be a number from 1 to 65535.")
    if port in bridge_ports:
        raise PortRefused("That port is the bridge's own; pick the app's port.")
    return port


class ClientDisconnected(Exception):
    """The browser went away while its request body was being relayed."""


PLACEHOLDER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="3">
<title>Nothing running yet</title>
<style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;
color:#334;background:#f7f7fa}}main{{max-width:32rem;text-align:center}}
code{{background:#e8e8f0;padding:.1rem .3rem;border-radius:4px}}</style></head>
<body><main><h1>Nothing is running here yet</h1>
<p>When the agent starts an app on port <code>{port}</code>, it will appear here.
This page refreshes by itself.</p></main></body></html>
"""


class ReverseProxy:
    def __init__(self, target: AppTarget, token: str, bridge_port: int) -> None:
        self.target = target
        self.token = token.encode()
        self.bridge_port = bridge_port
        self._pool: UpstreamPool | None = None

    async def start(self) -> None:
        self._pool = UpstreamPool()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The bridge may listen on a port it was handed (``--listen-fd``, ``--port 0``): the
        # socket this request came in on is its own port too.
        server = scope.get("server") or (None, None)
        own_ports = {self.bridge_port} | ({server[1]} if isinstance(server[1], int) else set())
        try:
            port = requested_port(scope.get("headers", []), self.target.port, own_ports)
        except PortRefused as refused:
            if scope["type"] == "http":
                await self._plain(send, 400, f"{refused}\n")
            elif scope["type"] == "websocket":
                await self._deny_websocket(scope, send, 400, f"{refused}\n")
            return
        if scope["type"] == "http":
            await self._proxy_http(scope, receive, send, port)
        elif scope["type"] == "websocket":
            await self._proxy_websocket(scope, receive, send, port)

    # -- headers ---------------------------------------------------------------------------

    def _forward_headers(
        self, scope: Scope, port: int, extra_excluded: frozenset[bytes] = frozenset()
    ) -> list[tuple[bytes, bytes]]:
        incoming: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        excluded = (
            asgi_proxy.HOP_BY_HOP
            | extra_excluded
            | asgi_proxy.connection_tokens(incoming)
            | {TOKEN_HEADER, PORT_HEADER}
        )
        headers: list[tuple[bytes, bytes]] = []
        original_host = b""
        for name, value in incoming:
            lowered = name.lower()
            if lowered == b"host":
                original_host = value
                continue
            if lowered in excluded:
                continue
            if lowered == b"authorization" and is_bridge_authorization(value, self.token):
                continue
            headers.append((lowered, value))
        headers.append((b"host", f"localhost:{port}".encode()))
        if original_host:
            headers.append((b"x-forwarded-host", original_host))
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", str(client[0]).encode()))
        headers.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode()))
        return headers

    def _url(self, scope: Scope, scheme: str, port: int) -> str:
        return f"{scheme}://127.0.0.1:{port}" + self._target(scope).decode("latin-1")

    @staticmethod
    def _target(scope: Scope) -> bytes:
        target: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        return target + b"?" + query if query else target

    # -- HTTP ------------------------------------------------------------------------------

    async def _proxy_http(self, scope: Scope, receive: Receive, send: Send, port: int) -> None:
        assert self._pool is not None, "the proxy was not started"
        headers = self._forward_headers(scope, port, HTTP_REQUEST_EXCLUDED)
        incoming = dict(scope.get("headers", []))
        body_length: int | None = None
        has_body = False
        if b"content-length" in incoming:
            try:
                body_length = int(incoming[b"content-length"])
            except ValueError:
                await self._plain(send, 400, "Invalid Content-Length.\n")
                return
            has_body = body_length > 0
        elif b"transfer-encoding" in incoming:
            has_body = True  # chunked: relayed chunked, length unknown
        body_done = not has_body

        async def request_body() -> AsyncIterator[bytes]:
            nonlocal body_done
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    body_done = True
                    return

        try:
            response = await self._pool.request(
                port,
                scope["method"],
                self._target(scope),
                headers,
                request_body() if has_body else None,
                body_length,
            )
        except UpstreamUnavailable:
            await self._placeholder(send, port)
            return
        except UpstreamError as error:
            await self._plain(send, 502, f"The app on port {port} failed: {error}\n")
            return
        except ClientDisconnected:
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": asgi_proxy.end_to_end(response.headers),
                }
            )
            complete_body = response.buffered_body()
            if complete_body is not None:
                # Small responses arrive whole with their headers: no streaming tasks needed.
                await send({"type": "http.response.body", "body": complete_body})
                return
            work = [asgi_proxy.stream_body(response.body(), send)]
            if body_done:
                # Once the request body is read, the only message left is the disconnect;
                # without watching for it an endless upstream SSE stream would never stop.
                work.append(asgi_proxy.wait_disconnect(receive))
            for outcome in await until_first_done(*work):
                if isinstance(outcome, UpstreamError):
                    logger.info("the app's response ended early: %s", outcome)
        finally:
            response.release()

    async def _placeholder(self, send: Send, port: int) -> None:
        body = PLACEHOLDER_HTML.format(port=port).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", b"3"),
                    (b"cache-control", b"no-store"),
                    (b"x-starter-placeholder", b"1"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _plain(send: Send, status: int, text: str) -> None:
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    # -- websockets ------------------------------------------------------------------------

    async def _proxy_websocket(self, scope: Scope, receive: Receive, send: Send, port: int) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self._forward_headers(scope, port, WEBSOCKET_HANDSHAKE)
            if name != b"host"
        ]
        subprotocols = list(scope.get("subprotocols") or [])
        try:
            upstream = await websocket_connect(
                self._url(scope, "ws", port),
                additional_headers=headers,
                subprotocols=[websockets.Subprotocol(p) for p in subprotocols] or None,
                open_timeout=5,
                max_size=None,
                compression=None,
                proxy=None,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI):
            await self._deny_websocket(
                scope, send, 502, f"Nothing is listening on port {port} yet.\n"
            )
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await asgi_proxy.pump(receive, send, upstream)

    @staticmethod
    async def _deny_websocket(scope: Scope, send: Send, status: int, text: str) -> None:
        if "websocket.http.response" in scope.get("extensions", {}):
            body = text.encode()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1011})
