"""The bridge's ASGI application: token check, ``/starter/*`` API, reverse proxy for the rest."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge_agent import protocol
from bridge_agent.api import events_response, routes
from bridge_agent.auth import TokenAuthMiddleware
from bridge_agent.config import BridgeConfig
from bridge_agent.errors import ApiError, error_response, exception_handlers
from bridge_agent.proxy import ReverseProxy
from bridge_agent.runtime import BridgeRuntime

logger = logging.getLogger("bridge_agent")

API_PREFIX = protocol.API_PREFIX
EVENTS_PATH = protocol.EVENTS_PATH


class BridgeApp:
    """Routes ``/starter/*`` to the API and everything else to the proxy; owns the lifespan."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.runtime = BridgeRuntime(config)
        self.proxy = ReverseProxy(self.runtime.app_target, config.token, config.port)
        self.api = Starlette(
            routes=routes,
            exception_handlers=exception_handlers("bridge endpoint", logger),
            lifespan=self._lifespan,
        )
        self.api.state.runtime = self.runtime
        # What the service routes (bridge_agent/services/routes.py) read, here and on the
        # services socket.
        self.api.state.services = self.runtime.services
        self.api.state.shutting_down = self.runtime.shutting_down
        self._entry: ASGIApp = TokenAuthMiddleware(self._route, config.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.api(scope, receive, send)
            return
        await self._entry(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == EVENTS_PATH and scope["type"] == "http" and scope["method"] == "GET":
            await self._events(scope, receive, send)
        elif path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/"):
            await self.api(scope, receive, send)
        else:
            await self.proxy(scope, receive, send)

    async def _events(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Event streams bypass Starlette's middleware: each of its layers wraps every send,
        # and with a hundred subscribers at a few hundred events a second that adds up.
        try:
            response = events_response(self.runtime, Request(scope, receive))
        except ApiError as error:
            response = error_response(error.status, error.code, error.message)
        await response(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.runtime.start()
        await self.proxy.start()
        try:
            yield
        finally:
            await self.proxy.close()
            await self.runtime.close()

    def begin_shutdown(self) -> None:
        self.runtime.begin_shutdown()


def create_app(config: BridgeConfig) -> BridgeApp:
    return BridgeApp(config)
