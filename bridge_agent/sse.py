"""``GET /starter/events``: replay from a cursor, then live events, as Server-Sent Events.

One response owns three waits: the writer (replay, live frames, keep-alive comments), the
client's disconnect, and the bridge's shutdown. Whichever finishes first cancels the others,
so an open stream never holds up shutdown and a stalled reader is cut off as soon as its
subscription overflows, even while a write to it is blocked.

With ``replay_only`` the stream ends after the replay. Every response says, in the
``X-Starter-Last-Event-Id`` header, the log's last id at the moment its replay was cut.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from bridge_agent.concurrency import until_first_done
from bridge_agent.event_log import EventLog, Subscription
from bridge_agent.protocol import LAST_EVENT_ID_HEADER as LAST_EVENT_ID

FINAL_WRITE_TIMEOUT = 0.5
LAST_EVENT_ID_HEADER = LAST_EVENT_ID.encode()


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        log: EventLog,
        after: int | None,
        keepalive_interval: float,
        shutdown: asyncio.Event,
        *,
        replay_only: bool = False,
    ) -> None:
        # Not Response.__init__: it would add "content-length: 0" for the empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        self.log = log
        self.after = after
        self.keepalive_interval = keepalive_interval
        self.shutdown = shutdown
        self.replay_only = replay_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self.log.subscribe(self.after)
        # The log's last id when this stream was cut: a client that gets no replayed event
        # still learns that everything up to here is accounted for.
        headers = [
            *self.raw_headers,
            (LAST_EVENT_ID_HEADER, str(subscription.snapshot_last_id).encode()),
        ]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await until_first_done(
                self._write(subscription, send),
                self._keepalive(subscription),
                self._wait_disconnect(receive),
                subscription.ended.wait(),
                self.shutdown.wait(),
            )
            # Close the body politely if the client still reads; a stalled client is just cut.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": b"", "more_body": False}),
                    FINAL_WRITE_TIMEOUT,
                )
        finally:
            self.log.unsubscribe(subscription)

    async def _write(self, subscription: Subscription, send: Send) -> None:
        await self._send(send, b"retry: 2000\n\n")
        if subscription.reset is not None:
            await self._send(send, subscription.reset.sse_frame())
        for replayed in subscription.replay_frames():
            await self._send(send, b"".join(replayed))
        if self.replay_only:
            return
        while True:
            frames = await subscription.next_frames()
            if frames is None:
                return
            await self._send(send, b"".join(frames) if frames else b": keep-alive\n\n")

    async def _keepalive(self, subscription: Subscription) -> None:
        # One timer per stream per interval, instead of one per event (see next_frames).
        while True:
            await asyncio.sleep(self.keepalive_interval)
            subscription.poke()

    @staticmethod
    async def _send(send: Send, body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})

    @staticmethod
    async def _wait_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
