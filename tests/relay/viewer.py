"""A websocket viewer of ``/ws/projects/<public_id>/`` for tests: the `websockets` client on a
thread, keeping every frame it receives."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

Envelope = dict[str, Any]


def _events_of(frame: dict[str, Any]) -> list[Envelope]:
    """The events a frame carries: one (``event``), several (``events``), or none."""
    if frame.get("kind") == "event":
        return [frame["event"]]
    if frame.get("kind") == "events":
        return list(frame["events"])
    return []


class Viewer:
    def __init__(
        self,
        base_url: str,
        public_id: str,
        token: str | None,
        after: int | None,
        *,
        headers: dict[str, str] | None = None,
        subscribe: bool = True,
    ) -> None:
        url = base_url.replace("http://", "ws://") + f"/ws/projects/{public_id}/"
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        # legacy=True: a connection held by this object (closed by close()), not a `with` block.
        self.connection: ClientConnection = connect(
            url, additional_headers=all_headers, open_timeout=10, max_size=None, legacy=True
        )
        self.frames: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each frame, as frames
        self.close_code: int | None = None
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if subscribe:
            self.subscribe(after)

    def subscribe(self, after: int | None) -> None:
        with contextlib.suppress(ConnectionClosed):  # refused sockets close at once
            self.connection.send(json.dumps({"type": "subscribe", "after": after}))

    def _read(self) -> None:
        try:
            for message in self.connection:
                with self._condition:
                    self.frames.append(json.loads(message))
                    self.arrivals.append(time.monotonic())
                    self._condition.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._condition:
                self.close_code = self.connection.close_code
                if self.close_code is None:
                    self.close_code = 1006
                self._condition.notify_all()

    # -- what arrived --------------------------------------------------------------------------

    @property
    def events(self) -> list[Envelope]:
        with self._condition:
            return [event for frame in self.frames for event in _events_of(frame)]

    @property
    def event_arrivals(self) -> list[tuple[float, int]]:
        """(time.monotonic() of its frame, id) of every event received, in order."""
        with self._condition:
            return [
                (arrived, event["id"])
                for arrived, frame in zip(self.arrivals, self.frames, strict=True)
                for event in _events_of(frame)
            ]

    @property
    def ids(self) -> list[int]:
        return [e["id"] for e in self.events]

    @property
    def relay_states(self) -> list[str]:
        with self._condition:
            return [f["state"] for f in self.frames if f.get("kind") == "relay"]

    @property
    def lifecycle(self) -> list[dict[str, Any]]:
        with self._condition:
            return [f["payload"] for f in self.frames if f.get("kind") == "lifecycle"]

    def wait(
        self, predicate: Callable[[Viewer], bool], timeout: float = 30.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    kinds = [f.get("kind") for f in self.frames[-10:]]
                    raise AssertionError(
                        f"timed out waiting for {what}; last frames: {kinds}, "
                        f"close code {self.close_code}"
                    )
                self._condition.wait(min(remaining, 0.2))

    def wait_event(self, event_type: str, timeout: float = 30.0, start: int = 0) -> Envelope:
        def found(viewer: Viewer) -> bool:
            return any(e["type"] == event_type for e in viewer.events[start:])

        self.wait(found, timeout, f"a {event_type} event")
        return next(e for e in self.events[start:] if e["type"] == event_type)

    def wait_closed(self, timeout: float = 10.0) -> int:
        self.wait(lambda viewer: viewer.close_code is not None, timeout, "the socket to close")
        assert self.close_code is not None
        return self.close_code

    # -- ending --------------------------------------------------------------------------------

    def drop(self) -> None:
        """Cut the TCP connection without a closing handshake, as a lost network does."""
        try:
            self.connection.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(timeout=5)

    def close(self) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            self.connection.close()
        self._thread.join(timeout=5)
