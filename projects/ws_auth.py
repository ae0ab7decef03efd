"""Who is on the other end of a websocket: an API token, or the dashboard's session.

Programs send a personal API token (``Authorization: Bearer st_…``, or ``?token=st_…`` where
a client cannot set headers). Browsers use the session cookie, but only from the dashboard's
own origin: a cookie rides along with any page's websocket, so a page elsewhere (another
site, or an agent-built app on a preview origin) must not be able to act as the person.
A token presented but not valid is never "upgraded" to the session: the socket is anonymous.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from starlette.types import ASGIApp, Receive, Scope, Send

from accounts.tokens import authenticate_api_token


def presented_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


def is_preview_host(host: str) -> bool:
    domain = settings.STARTER_PREVIEW_DOMAIN.lower()
    host = host.lower()
    return host == domain or host.endswith("." + domain)


def is_dashboard_origin(scope: Scope) -> bool:
    """The Origin is one of the dashboard's hosts (ALLOWED_HOSTS) and not a preview host."""
    for name, value in scope.get("headers", []):
        if name == b"origin":
            host = urlparse(value.decode("latin-1")).hostname or ""
            return (
                bool(host)
                and validate_host(host, settings.ALLOWED_HOSTS)
                and not is_preview_host(host)
            )
    return False


def _authenticate(raw: str) -> tuple[Any, Any]:
    token = authenticate_api_token(raw)
    if token is None:
        return AnonymousUser(), None
    return token.user, token


class WebsocketAuthMiddleware:
    """Sets ``scope["user"]`` (and ``scope["api_token"]`` for token clients)."""

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
        elif is_dashboard_origin(scope):
            await self.with_session(scope, receive, send)
        else:
            await self.inner({**scope, "user": AnonymousUser(), "api_token": None}, receive, send)
