"""How the bridge runs under uvicorn: signals, event loop, and TCP_NODELAY."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from bridge_agent.app import BridgeApp


class BridgeServer(uvicorn.Server):
    """uvicorn, except that a signal first ends the open SSE streams.

    uvicorn waits for every open connection before running the lifespan shutdown; event
    streams never finish by themselves, so they are told to end the moment a signal lands.
    The signal is not re-raised afterwards, so a clean shutdown exits with status 0.
    """

    def __init__(self, config: uvicorn.Config, app: BridgeApp) -> None:
        super().__init__(config)
        self.bridge_app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.bridge_app.begin_shutdown()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it comes with ``uvicorn[standard]``), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def no_delay_http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with Nagle's algorithm switched off on every connection.

    asyncio's server leaves TCP_NODELAY off on accepted sockets. Then a small write that
    follows another one (the next SSE frame, a proxied body after its headers) waits for
    the peer's delayed ACK, about 40 ms, which wrecks event latency and proxy throughput.
    """
    base: type[Any]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class NoDelayHttpProtocol(base):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

    return NoDelayHttpProtocol
