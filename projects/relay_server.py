"""Tuning of the websocket server under the relay: daphne, on autobahn and Twisted.

autobahn formats the arguments of its per-frame debug log line (``sendData``: qualified
names and values, coloured with click) *before* the logger drops the line, on every
websocket frame, with debug logging off too: four click ``style`` calls, about 2.5 µs of
the ~35 µs of CPU daphne spends per frame (bench/relay_bench.py, profiled at 500 viewers).
``quiet_frame_logging`` makes those two helpers, in autobahn's websocket modules only, hand
their argument through unformatted: a debug line, if anyone turns debug logging on, loses
its colours and nothing else.

Nagle needs nothing here: autobahn sets TCP_NODELAY on every websocket connection
(``tcpNoDelay`` defaults to true and is applied in ``connectionMade``, which daphne calls
after the upgrade).
"""

from __future__ import annotations

import autobahn.twisted.websocket as autobahn_twisted
import autobahn.websocket.protocol as autobahn_protocol


def _unformatted(value: object, *args: object, **kwargs: object) -> object:
    return value


def quiet_frame_logging() -> None:
    """Idempotent; affects this process's autobahn websocket modules only."""
    for module in (autobahn_protocol, autobahn_twisted):
        module.hltype = _unformatted  # type: ignore[attr-defined]
        module.hlval = _unformatted  # type: ignore[attr-defined]
