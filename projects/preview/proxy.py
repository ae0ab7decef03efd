"""The preview proxy: ``<public_id>[-<port>].<STARTER_PREVIEW_DOMAIN>`` → the project's bridge →
its app (on ``port``, named to the bridge with ``APP_PORT_HEADER``, or the bridge's app port).

``starter/asgi.py`` sends every request whose Host is a preview host here, before Django.
Access needs the cookie left by a signed link (``projects/preview/links.py``); the bridge
token is added here and never reaches the browser; the preview cookie never reaches the app.
Cookies the app sets are made host-only (any ``Domain`` attribute dropped), so no preview can
set one that another project's preview or the dashboard receives, and the app can neither
set nor clear the preview cookie. A websocket opened by a page of another origin is refused.
Bodies stream both ways and websockets are relayed frame by frame (dev servers use them for
hot reload).

A visit to a sleeping project enqueues a wake (``actions.wake_on_visit``) and answers a small
"Waking…" page that reloads itself (a meta refresh: no script) until the app answers; a
websocket to it is accepted and closed at once with 4503 ("waking, try again"). Every proxied
request counts as activity, written at most once per ``ACTIVITY_INTERVAL`` per project.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import logging
import time
from collections.abc import AsyncIterator
from functools import cache
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect as websocket_connect

from accounts.models import User
from bridge_agent import asgi_proxy
from bridge_agent.concurrency import until_first_done
from bridge_agent.protocol import API_PREFIX, APP_PORT_HEADER
from projects.actions import wake_on_visit
from projects.bridge.client import endpoint_for
from projects.errors import BridgeError, ProjectError, status_of
from projects.lifecycle.activity import touch_project_id
from projects.lookup import find_project_for_user
from projects.models import Project, Status
from projects.preview.links import (
    COOKIE_MAX_AGE,
    COOKIE_NAME,
    LINK_PATH,
    LINK_SCRIPT_PATH,
    PreviewDenied,
    PreviewTarget,
    preview_cookie_value,
    preview_target_from_host,
    read_preview_cookie,
    read_preview_link,
)
from projects.preview.raw_files import (
    FILE_PATH_PREFIX,
    FileLinkDenied,
    html_file_headers,
    read_file_link,
    read_html,
)
from sprites.backends import BridgeEndpoint

logger = logging.getLogger(__name__)

# A (person, project) -> bridge answer is reused this long, so a page's burst of asset
# requests costs one lookup; short, because the lookup is also the membership check: a member
# removed from the organisation loses the preview within this time.
ENDPOINT_CACHE_SECONDS = 1.0
# Preview traffic keeps a project awake; one write per project per interval is enough for
# an idle timeout counted in minutes.
ACTIVITY_INTERVAL = 30.0
# The bridge's token is the control plane's to add, never the browser's to send; Host is
# the bridge's own; the app port is decided by the preview host alone (a browser's copy of
# the header is dropped, so a page cannot reach another port of its project).
PORT_HEADER = APP_PORT_HEADER.encode()
NOT_FORWARDED = asgi_proxy.HOP_BY_HOP | {b"host", b"x-starter-token", PORT_HEADER}
# A websocket to a sleeping project: accepted, then closed with this code ("4000 + 503",
# like the relay's 4403/4404: servers may send only 1000 or 3000-4999, so not 1013).
WEBSOCKET_WAKING_CODE = 4503
WAKING_RETRY_SECONDS = 2

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;
color:#223;background:#f7f7fa}}main{{max-width:32rem;text-align:center}}</style></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""
LINK_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Opening the preview…</title>
<script src="{LINK_SCRIPT_PATH}" defer></script></head>
<body><main><p id="message">Opening the preview…</p>
<noscript><p>The preview needs JavaScript to open.</p></noscript></main></body></html>
""".encode()
LINK_PAGE_POLICY = b"default-src 'none'; script-src 'self'; form-action 'self'; base-uri 'none'"
LINK_SCRIPT = Path(settings.BASE_DIR) / "static" / "js" / "pages" / "preview-link.js"
MAX_LINK_FORM_BYTES = 8192
WAKING_STYLE = (
    "body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;"
    "color:#223;background:#f7f7fa}main{max-width:32rem;text-align:center}"
)
WAKING_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Waking the app…</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{WAKING_RETRY_SECONDS}">
<style>{WAKING_STYLE}</style></head>
<body><main><h1>Waking…</h1><p role="status">The project was asleep and is starting again.
This page turns into the app by itself in a few seconds.</p></main></body></html>
""".encode()
_STYLE_HASH = base64.b64encode(hashlib.sha256(WAKING_STYLE.encode()).digest()).decode()
# No script at all; the one style block by its hash; the refresh is a meta element.
WAKING_PAGE_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'"
).encode()


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


@cache
def _link_script() -> bytes:
    return LINK_SCRIPT.read_bytes()


def _host_only_set_cookie(value: bytes) -> bytes | None:
    """An app's ``Set-Cookie`` without its ``Domain`` attribute, so the cookie stays on this
    preview's host (a ``Domain`` naming the preview domain would reach every project's
    preview); None for the preview cookie itself, which only the proxy sets."""
    pair, *attributes = value.split(b";")
    if pair.partition(b"=")[0].strip() == COOKIE_NAME.encode():
        return None
    kept = [a for a in attributes if a.partition(b"=")[0].strip().lower() != b"domain"]
    return b";".join([pair, *kept])


def _response_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for name, value in asgi_proxy.end_to_end(raw):
        lowered = name.lower()
        if lowered == b"set-cookie":
            rewritten = _host_only_set_cookie(value)
            if rewritten is None:
                continue
            value = rewritten
        headers.append((name, value))
    return headers


def _is_same_origin(scope: Scope, host: str) -> bool:
    """No ``Origin`` (a program), or the one of this very preview host."""
    origin = _header(scope, b"origin")
    if not origin:
        return True
    try:
        return urlsplit(origin).netloc.lower() == host.lower()
    except ValueError:
        return False


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
    """The project, through the one scoped lookup, for the active user the link names: any
    member of its organisation (a viewer too: previews and files are for watching)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    project = find_project_for_user(user, public_id)
    if project is None:
        raise PreviewError(404, "No such project", "There is no such project for you.")
    return project


def _html_file(user_id: int, public_id: str, path: str) -> bytes:
    project = _owned_project(user_id, public_id)
    try:
        return read_html(project, path)
    except ProjectError as error:
        raise PreviewError(status_of(error), "The file cannot be shown", error.message) from None


def _is_bridge_api(path: str) -> bool:
    normalized = "/" + "/".join(part for part in path.split("/") if part and part != ".")
    return normalized == API_PREFIX.rstrip("/") or (normalized + "/").startswith(API_PREFIX)


class BridgeGone(Exception):
    """The bridge could not be reached; nothing was sent to the browser yet."""


class ProjectWaking(Exception):
    """The project sleeps (a wake is on its way) or is still starting: answer "Waking…"."""


def _open_project(user_id: int, public_id: str) -> tuple[int, BridgeEndpoint]:
    """The project's id and its bridge, for a visit; a sleeping project gets a wake enqueued
    and raises ProjectWaking (never a wake inline: a visit does not hold a worker)."""
    project = _owned_project(user_id, public_id)
    if project.status == Status.SLEEPING:
        wake_on_visit(project)
        raise ProjectWaking
    if project.status in {Status.CREATING, Status.BOOTSTRAPPING}:
        raise ProjectWaking
    if project.status != Status.RUNNING:
        raise PreviewError(
            503,
            "The preview is not available",
            f"The project is {project.get_status_display().lower()}; see its page.",
        )
    try:
        return project.pk, endpoint_for(project)
    except BridgeError as error:
        raise PreviewError(
            status_of(error), "The preview is not available", error.message
        ) from None


class ActivityThrottle:
    """Which visits to record as activity: the first of each project per ``interval``."""

    def __init__(self, interval: float = ACTIVITY_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}

    def due(self, project_id: int) -> bool:
        now = time.monotonic()
        if now - self._last.get(project_id, -self.interval) < self.interval:
            return False
        self._last[project_id] = now
        if len(self._last) > 10_000:  # forget projects not visited for a while
            self._last = {k: v for k, v in self._last.items() if now - v < self.interval}
        return True


class PreviewProxy:
    """The ASGI app for preview hosts."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._endpoints: dict[tuple[int, str], tuple[float, int, BridgeEndpoint]] = {}
        self._activity = ActivityThrottle()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=5.0, read=None, write=None, pool=10.0),
                follow_redirects=False,
                # One client serves every project: a cookie jar would keep what one app sets
                # and send it to the next app asked (all bridges are on the same host).
                cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            )
        return self._http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            return
        host = _header(scope, b"host")
        target = preview_target_from_host(host) or PreviewTarget("", None)
        try:
            if scope["type"] == "http" and scope["path"] in {LINK_PATH, LINK_SCRIPT_PATH}:
                await self._open_link(scope, receive, send, host, target)
                return
            if scope["type"] == "http" and scope["path"].startswith(FILE_PATH_PREFIX):
                await self._serve_file(scope, send, target)
                return
            if scope["type"] == "websocket" and not _is_same_origin(scope, host):
                raise PreviewError(403, "Refused", "A page of another origin opened this.")
            if _is_bridge_api(scope["path"]):
                # The bridge answers /starter/* itself, and the proxy adds its token: a page
                # the agent built must not drive the agent (prompt, exec, config) that way.
                raise PreviewError(404, "Not found", "This path belongs to the platform.")
            endpoint = await self._endpoint(scope, target)
        except PreviewError as error:
            await self._refuse(scope, send, error)
            return
        except ProjectWaking:
            await self._waking(scope, receive, send)
            return
        port_headers = [] if target.port is None else [(PORT_HEADER, str(target.port).encode())]
        try:
            if scope["type"] == "http":
                await self._proxy_http(scope, receive, send, endpoint, port_headers)
            else:
                await self._proxy_websocket(scope, receive, send, endpoint, port_headers)
        except BridgeGone:
            await self._after_bridge_gone(scope, receive, send, target)

    async def _after_bridge_gone(
        self, scope: Scope, receive: Receive, send: Send, target: PreviewTarget
    ) -> None:
        """The remembered bridge did not answer (nothing was sent yet): the project may have
        gone to sleep meanwhile, so look again; a sleeping one gets "Waking…"."""
        self._endpoints.clear()
        try:
            await self._endpoint(scope, target)
        except ProjectWaking:
            await self._waking(scope, receive, send, connected=True)
            return
        except PreviewError as error:
            await self._refuse(scope, send, error)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011})
            return
        await self._refuse(
            scope, send, PreviewError(502, "The preview is not answering", "Try again in a moment.")
        )

    # -- access ----------------------------------------------------------------------------

    async def _open_link(
        self, scope: Scope, receive: Receive, send: Send, host: str, target: PreviewTarget
    ) -> None:
        """GET: the link page and its script, which post the token from the fragment; POST:
        the token traded for the cookie, then a redirect to the app."""
        if scope["method"] == "GET":
            if scope["path"] == LINK_SCRIPT_PATH:
                await self._send_static(send, b"text/javascript; charset=utf-8", _link_script())
            else:
                await self._send_static(send, b"text/html; charset=utf-8", LINK_PAGE)
            return
        if scope["method"] != "POST" or scope["path"] != LINK_PATH:
            raise PreviewError(405, "Not allowed", "Open the preview from the project's page.")
        if not _is_same_origin(scope, host):
            raise PreviewError(403, "Preview link refused", "Open it from the project's page.")
        token = parse_qs((await self._form_body(receive)).decode("latin-1")).get("token", [""])[0]
        try:
            user_id = read_preview_link(token, target.public_id, target.port)
        except PreviewDenied as denied:
            raise PreviewError(403, "Preview link refused", str(denied)) from None
        await database_sync_to_async(_owned_project)(user_id, target.public_id)
        attributes = [
            f"{COOKIE_NAME}={preview_cookie_value(user_id, target.public_id, target.port)}",
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
                "status": 303,
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

    @staticmethod
    async def _form_body(receive: Receive) -> bytes:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            body += message.get("body", b"")
            if len(body) > MAX_LINK_FORM_BYTES:
                raise PreviewError(413, "Preview link refused", "This preview link is too long.")
            if not message.get("more_body", False):
                break
        return body

    @staticmethod
    async def _serve_file(scope: Scope, send: Send, target: PreviewTarget) -> None:
        """An HTML file of the Sprite as a sandboxed page (``raw_files``), for its viewer."""
        if target.port is not None or scope["method"] not in {"GET", "HEAD"}:
            raise PreviewError(404, "Not found", "This path belongs to the platform.")
        try:
            user_id, path = read_file_link(scope["path"][len(FILE_PATH_PREFIX) :], target.public_id)
        except FileLinkDenied as error:
            raise PreviewError(403, "Refused", str(error)) from None
        body = await database_sync_to_async(_html_file, thread_sensitive=False)(
            user_id, target.public_id, path
        )
        await send(
            {"type": "http.response.start", "status": 200, "headers": html_file_headers(len(body))}
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    @staticmethod
    async def _send_static(send: Send, content_type: bytes, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"content-security-policy", LINK_PAGE_POLICY),
                    (b"cache-control", b"no-store"),
                    # Not no-referrer: with it, the form's POST would say "Origin: null".
                    (b"referrer-policy", b"same-origin"),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _endpoint(self, scope: Scope, target: PreviewTarget) -> BridgeEndpoint:
        """The bridge to forward to, after the cookie check; records the visit as activity.
        Raises PreviewError (refused) or ProjectWaking."""
        public_id = target.public_id
        value = _cookie(scope, COOKIE_NAME)
        if not public_id or not value:
            raise PreviewError(
                403,
                "Open the preview from the dashboard",
                "This preview needs a fresh link: open it from the project's page.",
            )
        try:
            user_id = read_preview_cookie(value, public_id, target.port)
        except PreviewDenied as denied:
            raise PreviewError(403, "Open the preview from the dashboard", str(denied)) from None
        key = (user_id, public_id)
        cached = self._endpoints.get(key)
        if cached is not None and cached[0] > time.monotonic():
            _, project_id, endpoint = cached
        else:
            project_id, endpoint = await database_sync_to_async(
                _open_project, thread_sensitive=False
            )(user_id, public_id)
            self._endpoints[key] = (time.monotonic() + ENDPOINT_CACHE_SECONDS, project_id, endpoint)
        if self._activity.due(project_id):
            await database_sync_to_async(touch_project_id, thread_sensitive=False)(project_id)
        return endpoint

    async def _waking(
        self, scope: Scope, receive: Receive, send: Send, connected: bool = False
    ) -> None:
        """The "Waking…" answer: a page that reloads itself, or a websocket closed with a
        code that says "try again later" (a dev server's client reconnects by itself).
        ``connected``: the websocket's connect message was already received."""
        if scope["type"] == "websocket":
            if not connected and (await receive())["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            await send(
                {
                    "type": "websocket.close",
                    "code": WEBSOCKET_WAKING_CODE,
                    "reason": "The project is waking up; try again in a moment.",
                }
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(WAKING_PAGE)).encode()),
                    (b"content-security-policy", WAKING_PAGE_POLICY),
                    (b"retry-after", str(WAKING_RETRY_SECONDS).encode()),
                    (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-starter-waking", b"1"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": WAKING_PAGE})

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
        scope: Scope,
        endpoint: BridgeEndpoint,
        added: list[tuple[bytes, bytes]],
        excluded: frozenset[bytes] = frozenset(),
    ) -> list[tuple[bytes, bytes]]:
        incoming: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        dropped = NOT_FORWARDED | excluded | asgi_proxy.connection_tokens(incoming)
        headers: list[tuple[bytes, bytes]] = []
        for name, value in incoming:
            lowered = name.lower()
            if lowered in dropped:
                continue
            if lowered == b"cookie":
                value = _without_preview_cookie(value)
                if not value:
                    continue
            headers.append((lowered, value))
        headers += [(k.lower().encode(), v.encode()) for k, v in endpoint.headers.items()]
        return headers + added

    @staticmethod
    def _target(scope: Scope, base_url: str) -> str:
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        return base_url + path + (f"?{query}" if query else "")

    async def _proxy_http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: BridgeEndpoint,
        added: list[tuple[bytes, bytes]],
    ) -> None:
        headers = self._headers(scope, endpoint, added)
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
        except httpx.HTTPError as error:
            raise BridgeGone from error
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _response_headers(response.headers.raw),
                }
            )
            work = [asgi_proxy.stream_body(response.aiter_raw(), send)]
            if body_read.is_set():
                # Without watching for the disconnect an endless stream (SSE) never ends.
                work.append(asgi_proxy.wait_disconnect(receive))
            await until_first_done(*work)
        finally:
            await response.aclose()

    async def _proxy_websocket(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: BridgeEndpoint,
        added: list[tuple[bytes, bytes]],
    ) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self._headers(scope, endpoint, added, asgi_proxy.WEBSOCKET_HANDSHAKE)
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
        except (OSError, TimeoutError) as error:
            raise BridgeGone from error  # the connection failed: nothing answered
        except (websockets.InvalidHandshake, websockets.InvalidURI):
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await asgi_proxy.pump(receive, send, upstream)
