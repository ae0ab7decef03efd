"""The web process: daphne, on uvloop, with a cheaper websocket write path.

``python -m starter.web_server [daphne arguments]`` runs daphne's own command line after
changes that matter when the relay fans events out to hundreds of websockets
(bench/relay_bench.py, 500 viewers at 100 events/s per project):

* **uvloop** under Twisted's asyncio reactor. daphne builds its reactor's loop with
  ``asyncio.new_event_loop()`` when ``daphne.server`` is imported, so the policy must be set
  before that import, which is why this is a launcher and not a setting of the ASGI app.
* **write-through websocket sends**. A Twisted transport queues every write and asks the
  loop to watch the socket for writability, then writes on the next turn and stops watching:
  two ``epoll_ctl`` calls and two loop callbacks per frame, about half of what the relay
  spent per frame when profiled. When nothing is queued on the connection, ``write_through``
  hands the frame to the socket at once and queues only what the socket did not take, so
  order is kept and back-pressure still goes through Twisted's buffer.
* **write-through HTTP responses**, the same way: a streamed answer through the model
  gateway is one small write per chunk (bench/gateway_bench.py).
* autobahn formats the arguments of its per-frame debug log line before the logger drops
  it (four ``click.style`` calls per frame with debug logging off); those helpers hand their
  argument through unformatted in autobahn's websocket modules.

With ``STARTER_WEB_PROCESSES`` above 1 it runs that many such processes on one socket
(starter/web_processes.py).

Nagle needs nothing here: autobahn sets TCP_NODELAY on every websocket connection, Twisted's
HTTPChannel on every HTTP one. Daphne's access log shows ``key`` query values redacted
(Google's ``?key=`` carries a gateway token).
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

import uvloop

from starter.web_processes import configured_count, supervise


def _unformatted(value: object, *args: object, **kwargs: object) -> object:
    return value


def write_through(transport: Any, data: bytes) -> None:
    """Write ``data`` to a Twisted TCP transport, sending at once when nothing is queued.

    Only a plain (non-TLS) TCP connection that is open, not closing and has an empty buffer
    is written directly; anything else, and whatever the socket did not take, goes through
    ``transport.write`` as usual, so bytes are never reordered or dropped.
    """
    from twisted.internet import tcp

    if (
        isinstance(transport, tcp.Connection)
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._tempDataBuffer
        and transport.offset == len(transport.dataBuffer)
    ):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int) and sent > 0:
            if sent == len(data):
                return
            data = data[sent:]
        # 0 (the socket is full) or an error: Twisted's buffer and its doWrite handle both.
    transport.write(data)


def tune_websockets() -> None:
    """Idempotent; changes daphne's websocket protocol in this process only."""
    import autobahn.twisted.websocket as autobahn_twisted
    import autobahn.websocket.protocol as autobahn_protocol
    from daphne.ws_protocol import WebSocketProtocol

    for module in (autobahn_protocol, autobahn_twisted):
        module.hltype = _unformatted  # type: ignore[attr-defined]
        module.hlval = _unformatted  # type: ignore[attr-defined]

    if getattr(WebSocketProtocol, "_starter_write_through", False):
        return
    original = WebSocketProtocol.sendData
    state_open = WebSocketProtocol.STATE_OPEN

    def send_data(self: Any, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # autobahn's own path for everything but a plain send on an open connection
        # (handshake, closing, chopped or synchronous sends, an already queued send).
        if sync or chopsize or self.send_queue or self.logOctets or self.state != state_open:
            original(self, data, sync, chopsize)
            return
        write_through(self.transport, data)
        self.trafficStats.outgoingOctetsWireLevel += len(data)

    WebSocketProtocol.sendData = send_data
    WebSocketProtocol._starter_write_through = True


def tune_http() -> None:
    """Idempotent; plain HTTP responses go out write-through too (a streamed answer through
    the model gateway is one small write per chunk: bench/gateway_bench.py)."""
    from twisted.web import http

    if getattr(http.HTTPChannel, "_starter_write_through", False):
        return

    def write(self: Any, data: bytes) -> None:
        write_through(self.transport, data)

    def write_sequence(self: Any, iovec: list[bytes]) -> None:
        write_through(self.transport, b"".join(iovec))

    http.HTTPChannel.write = write  # type: ignore[method-assign]
    http.HTTPChannel.writeSequence = write_sequence  # type: ignore[method-assign]
    http.HTTPChannel._starter_write_through = True  # type: ignore[attr-defined]


# A query parameter whose value is a credential: the access log shows it redacted (the
# gateway takes Google's ``?key=`` as a gateway token, gateway/proxy.py).
SECRET_QUERY_PARAMETERS = re.compile(r"([?&]key=)[^&\s]*", re.I)
# An invitation link carries its single-use secret in the path (organisations/invitations.py).
SECRET_PATHS = re.compile(r"^(/invitations/)(?!accept/)[^/?\s]+")


def redacted_path(path: str) -> str:
    path = SECRET_PATHS.sub(r"\1[redacted]", path)
    return SECRET_QUERY_PARAMETERS.sub(r"\1[redacted]", path)


def redact_access_log() -> None:
    """Idempotent; daphne's access log lines show a request's path with secrets redacted."""
    from daphne.access import AccessLogGenerator

    if getattr(AccessLogGenerator, "_starter_redacted", False):
        return
    original = AccessLogGenerator.__call__

    def log(self: Any, protocol: str, action: str, details: dict[str, Any]) -> None:
        if isinstance(details.get("path"), str):
            details = {**details, "path": redacted_path(details["path"])}
        original(self, protocol, action, details)

    AccessLogGenerator.__call__ = log
    AccessLogGenerator._starter_redacted = True


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    count = configured_count()
    if count > 1:
        raise SystemExit(supervise(args, count))
    serve(args)


def serve(args: list[str]) -> None:
    """One web process: daphne's command line, on uvloop, tuned."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # daphne.cli imports daphne.server, which installs Twisted's asyncio reactor on a new loop
    # (now a uvloop one); only after that may autobahn's Twisted modules be imported.
    from daphne.cli import CommandLineInterface

    tune_websockets()
    tune_http()
    redact_access_log()

    CommandLineInterface().run(args)


if __name__ == "__main__":
    main()
