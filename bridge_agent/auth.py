"""Token check for every request the bridge serves, proxied ones included.

Only ``GET /starter/health`` is open. The token may come as ``X-Starter-Token`` or as
``Authorization: Bearer``; it is compared in constant time.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from bridge_agent import protocol

OPEN_PATHS = frozenset({protocol.HEALTH_PATH})
TOKEN_HEADER = protocol.TOKEN_HEADER.encode()


def presented_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == TOKEN_HEADER:
            return value.strip()
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
    return None


def is_bridge_authorization(value: bytes, token: bytes) -> bool:
    """True when an ``Authorization`` header carries the bridge token (so the app never sees it)."""
    scheme, _, credentials = value.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token)


class TokenAuthMiddleware:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = presented_token(scope.get("headers", []))
        # compare_digest takes the same time whatever the mismatch position.
        if presented is not None and hmac.compare_digest(presented, self.token):
            await self.app(scope, receive, send)
            return
        await self._deny(scope, send)

    async def _deny(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "error": "unauthorized",
                "message": "Send the bridge token as 'X-Starter-Token: <token>' or "
                "'Authorization: Bearer <token>'.",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="starter-bridge"'),
        ]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})
