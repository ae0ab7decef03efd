"""The preview proxy: ``<public_id>.<STARTER_PREVIEW_DOMAIN>`` → the project's bridge → its app.

``starter/asgi.py`` sends every request whose Host is a preview host here, before Django.
Access needs the cookie left by a signed link (``projects/preview_links.py``); the bridge
token is added here and never reaches the browser; the preview cookie never reaches the app.
Bodies stream both ways and websockets are relayed frame by frame (dev servers use them for
hot reload). A sleeping project is woken by its first preview request.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

import httpx
import websockets
from channels.db import database_sync_to_async
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect as websocket_connect

from accounts.models import User
from bridge_agent.concurrency import until_first_done
from bridge_agent.websocket_pump import pump
from projects.bridge_client import BridgeError, endpoint_for, ensure_running, touch
from projects.models import Project
from projects.preview_links import (
    COOKIE_MAX_AGE,
    COOKIE_NAME,
    LINK_PATH,
    PreviewDenied,
    preview_cookie_value,
    public_id_from_host,
    read_preview_cookie,
    read_preview_link,
)
from sprites.backends import BridgeEndpoint

logger = logging.getLogger(__name__)

ENDPOINT_CACHE_SECONDS = 5.0
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
        b"host",
        b"x-starter-token",
    }
)
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

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;
color:#223;background:#f7f7fa}}main{{max-width:32rem;text-align:center}}</style></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""


class PreviewError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _cookie(scope: Scope, name: str) -> str | None:
    jar = SimpleCookie()
    with contextlib.suppress(Exception):
        jar.load(_header(scope, b"cookie"))
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _without_preview_cookie(value: bytes) -> bytes:
    kept = [
        part
        for part in value.split(b";")
        if part.strip() and not part.strip().startswith(COOKIE_NAME.encode() + b"=")
    ]
    return b";".join(kept).strip()


def _is_secure_context(scope: Scope, host: str) -> bool:
    """Browsers keep ``Secure`` cookies over https, and over http on *.localhost."""
    name = host.rsplit(":", 1)[0].lower()
    return (
        scope.get("scheme") in {"https", "wss"}
        or name == "localhost"
        or name.endswith(".localhost")
    )


def _owned_project(user_id: int, public_id: str) -> Project:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    project = (
        Project.objects.for_user(user).select_related("owner").filter(public_id=public_id).first()
        if user is not None
        else None
    )
    if project is None:
        raise PreviewError(404, "No such project", "There is no such project for you.")
    return project


def _running_endpoint(user_id: int, public_id: str) -> BridgeEndpoint:
    project = _owned_project(user_id, public_id)
    try:
        ensure_running(project)  # wakes a sleeping Sprite
        endpoint = endpoint_for(project)
    except BridgeError as error:
        raise PreviewError(error.status, "The preview is not available", error.message) from None
    touch(project)
    return endpoint


class PreviewProxy:
    """The ASGI app for preview hosts."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._endpoints: dict[tuple[int, str], tuple[float, BridgeEndpoint]] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=5.0, read=None, write=None, pool=10.0),
                follow_redirects=False,
            )
        return self._http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            return
        host = _header(scope, b"host")
        public_id = public_id_from_host(host) or ""
        try:
            if scope["type"] == "http" and scope["path"] == LINK_PATH:
                await self._open_link(scope, send, host, public_id)
                return
            endpoint = await self._endpoint(scope, public_id)
        except PreviewError as error:
            await self._refuse(scope, send, error)
            return
        if scope["type"] == "http":
            await self._proxy_http(scope, receive, send, endpoint)
        else:
            await self._proxy_websocket(scope, receive, send, endpoint)

    # -- access ----------------------------------------------------------------------------

    async def _open_link(self, scope: Scope, send: Send, host: str, public_id: str) -> None:
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        try:
            user_id = read_preview_link(token, public_id)
        except PreviewDenied as denied:
            raise PreviewError(403, "Preview link refused", str(denied)) from None
        await database_sync_to_async(_owned_project)(user_id, public_id)
        attributes = [
            f"{COOKIE_NAME}={preview_cookie_value(user_id, public_id)}",
            "Path=/",
            f"Max-Age={COOKIE_MAX_AGE}",
            "HttpOnly",
        ]
        if _is_secure_context(scope, host):
            # The preview is framed by the dashboard, another site: only a SameSite=None
            # cookie is set and sent there, and those must be Secure. Partitioned keeps it
            # working where third-party cookies are blocked (it is keyed by the top site).
            attributes += ["SameSite=None", "Secure", "Partitioned"]
        else:
            attributes.append("SameSite=Lax")
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", b"/"),
                    (b"set-cookie", "; ".join(attributes).encode()),
                    (b"cache-control", b"no-store"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _endpoint(self, scope: Scope, public_id: str) -> BridgeEndpoint:
        value = _cookie(scope, COOKIE_NAME)
        if not public_id or not value:
            raise PreviewError(
                403,
                "Open the preview from the dashboard",
                "This preview needs a fresh link: open it from the project's page.",
            )
        try:
            user_id = read_preview_cookie(value, public_id)
        except PreviewDenied as denied:
            raise PreviewError(403, "Open the preview from the dashboard", str(denied)) from None
        key = (user_id, public_id)
        cached = self._endpoints.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        endpoint = await database_sync_to_async(_running_endpoint, thread_sensitive=False)(
            user_id, public_id
        )
        self._endpoints[key] = (time.monotonic() + ENDPOINT_CACHE_SECONDS, endpoint)
        return endpoint

    async def _refuse(self, scope: Scope, send: Send, error: PreviewError) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting answers the handshake with 403.
            await send({"type": "websocket.close", "code": 4403})
            return
        body = PAGE.format(
            title=html.escape(error.title), message=html.escape(error.message)
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    # -- forwarding -----------------------------------------------------------------------

    @staticmethod
    def _headers(
        scope: Scope, endpoint: BridgeEndpoint, excluded: frozenset[bytes] = frozenset()
    ) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        for name, value in scope.get("headers", []):
            lowered = name.lower()
            if lowered in HOP_BY_HOP or lowered in excluded:
                continue
            if lowered == b"cookie":
                value = _without_preview_cookie(value)
                if not value:
                    continue
            headers.append((lowered, value))
        headers += [(k.lower().encode(), v.encode()) for k, v in endpoint.headers.items()]
        return headers

    @staticmethod
    def _target(scope: Scope, base_url: str) -> str:
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        return base_url + path + (f"?{query}" if query else "")

    async def _proxy_http(
        self, scope: Scope, receive: Receive, send: Send, endpoint: BridgeEndpoint
    ) -> None:
        headers = self._headers(scope, endpoint)
        has_body = any(name in (b"content-length", b"transfer-encoding") for name, _ in headers)
        body_read = asyncio.Event()

        async def request_body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                if message.get("body"):
                    yield message["body"]
                if not message.get("more_body", False):
                    break
            body_read.set()

        if not has_body:
            body_read.set()
        request = self.http.build_request(
            scope["method"],
            self._target(scope, endpoint.base_url),
            headers=headers,
            content=request_body() if has_body else None,
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError:
            self._endpoints.clear()
            await self._refuse(
                scope,
                send,
                PreviewError(502, "The preview is not answering", "Try again in a moment."),
            )
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name, value)
                        for name, value in response.headers.raw
                        if name.lower() not in HOP_BY_HOP
                    ],
                }
            )
            work = [self._stream(response, send)]
            if body_read.is_set():
                # Without watching for the disconnect an endless stream (SSE) never ends.
                work.append(self._wait_disconnect(receive))
            await until_first_done(*work)
        finally:
            await response.aclose()

    @staticmethod
    async def _stream(response: httpx.Response, send: Send) -> None:
        async for chunk in response.aiter_raw():
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _wait_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _proxy_websocket(
        self, scope: Scope, receive: Receive, send: Send, endpoint: BridgeEndpoint
    ) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self._headers(scope, endpoint, WEBSOCKET_HANDSHAKE)
        ]
        subprotocols = [websockets.Subprotocol(p) for p in scope.get("subprotocols") or []]
        url = "ws" + self._target(scope, endpoint.base_url).removeprefix("http")
        try:
            upstream = await websocket_connect(
                url,
                additional_headers=headers,
                subprotocols=subprotocols or None,
                open_timeout=10,
                max_size=None,
                compression=None,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI):
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await pump(receive, send, upstream)
