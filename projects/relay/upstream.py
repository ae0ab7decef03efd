"""The one upstream event stream per project: who holds it, and what it publishes.

* Every feed (projects/relay/feed.py) runs an **upstream candidate**. At most one candidate per
  project, in any process, holds the Redis lock ``relay:lock:<public_id>`` (``SET NX EX``,
  renewed every ``LOCK_RENEW_SECONDS``); the holder follows the bridge's
  ``GET /starter/events`` and publishes each event to the project's pub/sub channel. If the
  holder dies its lock expires and another candidate takes over; if it loses the upstream it
  reconnects. Either way the stream resumes with ``Last-Event-ID`` = the last id published,
  kept in Redis.
* Each published event carries ``previous_id``: the id the publisher published before it
  (or, for the first event of a fresh stream, the log position the stream started from).

The candidate is given its collaborators (Redis, the channel layer, the HTTP client, the
lock's lifetime) by its feed and knows nothing of feeds; it reads the bridge through
projects/bridge/events.py, like every other reader of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis

from bridge_agent.concurrency import until_first_done
from projects.bridge.events import EventStream, SseEvent, bridge_target, open_event_stream
from projects.broadcast import RelayState, project_group, relay_state_message
from projects.errors import BridgeError
from projects.relay.wire import (
    MAX_BATCH_EVENTS,
    connects_key,
    cursor_key,
    events_channel,
    lock_key,
    published_payload,
    unavailable_state,
)
from sprites.backends import BridgeEndpoint

logger = logging.getLogger(__name__)

LOCK_SECONDS = 10
LOCK_RENEW_SECONDS = 3.0
LOCK_POLL_SECONDS = 1.0
NOT_RUNNING_RETRY_SECONDS = 5.0
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
CURSOR_TTL_SECONDS = 7 * 24 * 3600

_RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class UpstreamCandidate:
    """Takes the project's relay lock when it is free and, while holding it, follows the
    bridge's event stream and publishes every event to the project's pub/sub channel."""

    def __init__(
        self,
        public_id: str,
        *,
        redis: aioredis.Redis,
        layer: Any,
        http: httpx.AsyncClient,
        lock_seconds: int,
    ) -> None:
        self.public_id = public_id
        self.redis = redis
        self.layer = layer
        self.http = http
        self.lock_seconds = lock_seconds
        self.token = uuid.uuid4().hex
        self.holding = False
        self.connected = False
        self._wakeup = asyncio.Event()
        self._published_state: str | None = None

    def poke(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                acquired = await self.redis.set(
                    lock_key(self.public_id), self.token, nx=True, ex=self.lock_seconds
                )
                if acquired:
                    self.holding = True
                    try:
                        await self._hold()
                    finally:
                        self.holding = False
                        await self._release()
                else:
                    await self._sleep(LOCK_POLL_SECONDS)
        finally:
            self.holding = False

    async def _release(self) -> None:
        # Shielded: a cancelled feed must still hand the lock over at once, not after its TTL.
        with contextlib.suppress(Exception):
            await asyncio.shield(
                self.redis.eval(_RELEASE_IF_OWNER, 1, lock_key(self.public_id), self.token)
            )

    async def _hold(self) -> None:
        await until_first_done(self._renew(), self._follow_forever())

    async def _renew(self) -> None:
        """Returns (ending the hold) when the lock was lost, e.g. after a long stall."""
        while True:
            await asyncio.sleep(LOCK_RENEW_SECONDS)
            renewed = await self.redis.eval(
                _RENEW_IF_OWNER, 1, lock_key(self.public_id), self.token, self.lock_seconds
            )
            if not renewed:
                logger.warning("relay lock of %s lost; another process leads", self.public_id)
                return

    async def _follow_forever(self) -> None:
        failures = 0
        while True:
            try:
                endpoint = await bridge_target(self.public_id, fresh=True)
            except BridgeError as unavailable:
                await self._publish_state(unavailable_state(unavailable))
                await self._sleep(NOT_RUNNING_RETRY_SECONDS)
                continue
            self.connected = False
            try:
                await self._follow(endpoint)
            except (BridgeError, ValueError) as error:
                logger.info(
                    "relay upstream of %s dropped: %s", self.public_id, type(error).__name__
                )
            if self.connected:
                failures = 0
            await self._publish_state("upstream_down")
            await self._sleep(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
            failures += 1

    async def _follow(self, endpoint: BridgeEndpoint) -> None:
        """One upstream stream, from the stored cursor, until it ends."""
        stored = await self.redis.get(cursor_key(self.public_id))
        cursor = int(stored) if stored is not None else None
        async with await open_event_stream(self.http, endpoint, cursor) as stream:
            if cursor is None:
                # A first stream is live-only; it starts where the log was when it opened.
                cursor = stream.log_position
            self.connected = True
            await self.redis.incr(connects_key(self.public_id))
            await self._publish_state("connected")
            # The bridge sends each event as its own HTTP chunk. Reading and publishing are
            # two tasks so that whatever arrives during one publish round trip goes out in
            # the next, together: one round trip per event would cap the rate at one event
            # per turn of a busy event loop.
            received: asyncio.Queue[list[SseEvent] | BaseException | None] = asyncio.Queue()
            reader = asyncio.create_task(self._read(stream, received))
            try:
                while True:
                    events, end = await self._take_received(received)
                    if events:
                        cursor = await self._publish(events, cursor)
                    if isinstance(end, BaseException):
                        raise end
                    if end is not None:
                        return
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    @staticmethod
    async def _read(
        stream: EventStream, received: asyncio.Queue[list[SseEvent] | BaseException | None]
    ) -> None:
        """Queues the stream's events as they arrive, then ``None`` (ended) or the error."""
        try:
            async for events in stream.batches():
                received.put_nowait(events)
        except Exception as error:  # handed to the publisher, which raises it
            received.put_nowait(error)
        else:
            received.put_nowait(None)

    @staticmethod
    async def _take_received(
        received: asyncio.Queue[list[SseEvent] | BaseException | None],
    ) -> tuple[list[SseEvent], BaseException | bool | None]:
        """Everything queued so far (waiting for the first), and how the stream ended:
        ``None`` while it goes on, ``True`` when it ended, or the error that ended it."""
        events: list[SseEvent] = []
        item = await received.get()
        while True:
            if item is None:
                return events, True
            if isinstance(item, BaseException):
                return events, item
            events.extend(item)
            if received.empty():
                return events, None
            item = received.get_nowait()

    async def _publish(self, events: list[SseEvent], cursor: int | None) -> int:
        """One round trip: the events out (in messages of at most a frame's worth), and the
        cursor a successor resumes from. Returns the new cursor."""
        channel = events_channel(self.public_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(events), MAX_BATCH_EVENTS):
                part = events[start : start + MAX_BATCH_EVENTS]
                pipe.publish(channel, published_payload(part, cursor))
                cursor = part[-1].id
            pipe.set(cursor_key(self.public_id), events[-1].id, ex=CURSOR_TTL_SECONDS)
            await pipe.execute()
        return events[-1].id

    async def _publish_state(self, state: RelayState) -> None:
        if state == self._published_state:
            return
        self._published_state = state
        await self.layer.group_send(project_group(self.public_id), relay_state_message(state))

    async def _sleep(self, seconds: float) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
