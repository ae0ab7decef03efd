"""Who is on the other end of a websocket: an API token, or the dashboard's session.

Programs send a personal API token (``Authorization: Bearer st_…``, or ``?token=st_…`` where
a client cannot set headers). Browsers use the session cookie, but only from the dashboard's
own origin: a cookie rides along with any page's websocket, so a page elsewhere (another
site, a server on another port of the same host, an agent-built app on a preview origin)
must not be able to act as the person. Browsers always send ``Origin`` on a websocket
handshake, so:

* an ``Origin`` that is not the dashboard's is refused at the handshake (HTTP 403, the page
  sees no ``open`` and no message), unless the socket brings its own API token: a token is
  never ambient, so whoever presents one holds it;
* no ``Origin`` at all is a program, not a browser page: a token, or nothing (the cookie is
  ignored and the consumer closes with 4401).

A token presented but not valid is never "upgraded" to the session: the socket is anonymous.
The dashboard's origins are compared whole (scheme, host and port): the site's own
(``STARTER_SITE_URL``), ``CSRF_TRUSTED_ORIGINS``, and the origin the socket was opened on
when its host is one of ``ALLOWED_HOSTS`` (as Django's CSRF check does for forms).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain
from starlette.types import ASGIApp, Receive, Scope, Send

from accounts.tokens import authenticate_api_token
from projects.preview.links import is_preview_host

CLOSE_FOREIGN_ORIGIN = 4403  # before accepting: the handshake is answered with HTTP 403
DEFAULT_PORTS = {"http": 80, "https": 443}


def presented_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def normalized_origin(url: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None when ``url``
    has no scheme and host (``null``, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _trusted_by_settings(origin: str) -> bool:
    if origin == normalized_origin(settings.SITE_URL):
        return True
    scheme, _, netloc = origin.partition("://")
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            # Django's wildcard form, https://*.example.com: any subdomain, same scheme.
            trusted_scheme, _, pattern = trusted.lower().partition("://")
            if trusted_scheme == scheme and is_same_domain(netloc, pattern.replace("*", "", 1)):
                return True
        elif origin == normalized_origin(trusted):
            return True
    return False


def _same_origin_as_request(origin: str, scope: Scope) -> bool:
    host = (_header(scope, b"host") or "").lower()
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if scope.get("scheme") in {"wss", "https"} else "http"
    return origin == normalized_origin(f"{scheme}://{host}")


def is_dashboard_origin(scope: Scope) -> bool:
    """The socket was opened by a page of the dashboard (never a preview host)."""
    origin = normalized_origin(_header(scope, b"origin") or "")
    if origin is None or is_preview_host(origin.partition("://")[2]):
        return False
    return _trusted_by_settings(origin) or _same_origin_as_request(origin, scope)


def _authenticate(raw: str) -> tuple[Any, Any]:
    token = authenticate_api_token(raw)
    if token is None:
        return AnonymousUser(), None
    return token.user, token


class WebsocketAuthMiddleware:
    """Sets ``scope["user"]`` (and ``scope["api_token"]`` for token clients); refuses the
    handshake of a page from another origin that brings no token."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.with_session = AuthMiddlewareStack(inner)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = presented_token(scope)
        if raw is not None:
            # Off the shared sync thread: a burst of (re)connecting programs must not queue
            # behind each other past daphne's handshake timeout.
            user, token = await database_sync_to_async(_authenticate, thread_sensitive=False)(raw)
            await self.inner({**scope, "user": user, "api_token": token}, receive, send)
        elif _header(scope, b"origin") is None:
            await self.inner({**scope, "user": AnonymousUser(), "api_token": None}, receive, send)
        elif is_dashboard_origin(scope):
            await self.with_session(scope, receive, send)
        else:
            await self._refuse(receive, send)

    @staticmethod
    async def _refuse(receive: Receive, send: Send) -> None:
        if (await receive())["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": CLOSE_FOREIGN_ORIGIN})
