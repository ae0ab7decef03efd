"""The one upstream event stream per project: who holds it, and what it publishes.

* Every feed (projects/relay/feed.py) runs an **upstream candidate**. At most one candidate per
  project, in any process, holds the Redis lock ``relay:lock:<public_id>`` (a short lease,
  ``LOCK_SECONDS``, renewed every ``LOCK_RENEW_SECONDS``); the holder follows the bridge's
  ``GET /starter/events`` and publishes each event to the project's pub/sub channel. If it
  loses the upstream it reconnects; if it loses Redis it lets go and tries again with
  backoff. Either way the stream resumes with ``Last-Event-ID`` = the last id published,
  kept in Redis (and in the candidate, for a Redis that restarted empty).
* **Failover.** A holder whose process dies is replaced without waiting for its lease:
  every candidate's process stays subscribed to the candidate's ``alive`` pub/sub channel
  (``wire.alive_channel(token)``; the feed's pub/sub connection does it), Redis drops that
  subscription the moment the dead process's socket closes, and a waiting candidate that
  finds the lock's holder with no subscriber deletes the lock (if it still names that
  holder) and takes it. A hung process keeps its socket open, so its lease (2 s) is the
  bound then. Taking over late or twice is harmless: the successor resumes from the
  cursor, and viewers drop ids they already sent.
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
from channels.db import database_sync_to_async

from bridge_agent.concurrency import until_first_done, wait_or_timeout
from bridge_agent.protocol import EVENT_SERVICE_CHANGED, EVENT_SERVICE_REMOVED
from projects.bridge.events import EventStream, SseEvent, bridge_target, open_event_stream
from projects.broadcast import RelayState, project_group, relay_state_message
from projects.errors import BridgeError
from projects.relay.wire import (
    MAX_BATCH_EVENTS,
    alive_channel,
    connects_key,
    cursor_key,
    events_channel,
    lock_key,
    published_payload,
    state_key,
    unavailable_state,
)
from projects.sprite.services import request_reconcile
from sprites.backends import BridgeEndpoint

logger = logging.getLogger(__name__)

# The lease is short so that even a hung holder is replaced quickly; renewing four times
# per lease leaves room for a stalled event loop (a renewal late by 1.5 s still holds).
LOCK_SECONDS = 2.0
LOCK_RENEW_SECONDS = 0.5
LOCK_POLL_SECONDS = 0.2
NOT_RUNNING_RETRY_SECONDS = 5.0
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
CURSOR_TTL_SECONDS = 7 * 24 * 3600
STATE_TTL_SECONDS = 24 * 3600

_TAKE_IF_FREE_OR_OURS = """
local holder = redis.call('get', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


SERVICE_REGISTRY_EVENTS = frozenset({EVENT_SERVICE_CHANGED, EVENT_SERVICE_REMOVED})


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
        lock_seconds: float,
    ) -> None:
        self.public_id = public_id
        self.redis = redis
        self.layer = layer
        self.http = http
        self.lock_seconds = lock_seconds
        self.token = uuid.uuid4().hex
        self.holding = False
        self.connected = False
        # Set by the feed while its pub/sub connection is subscribed to alive_channel(token):
        # only then may this candidate take the lock (others would take it for dead).
        self.announced = asyncio.Event()
        # The last id this candidate published: where to resume if Redis lost the cursor.
        self.last_published: int | None = None
        self._wakeup = asyncio.Event()
        self._published_state: str | None = None

    def poke(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Wait for the lock, hold it, repeat. Returns never; a Redis error propagates (the
        feed's supervisor retries with backoff), the lock released if it can be."""
        # Whatever state was published before a failure may not have reached anyone.
        self._published_state = None
        try:
            while True:
                await self.announced.wait()
                if await self._take_lock():
                    self.holding = True
                    try:
                        await self._hold()
                    finally:
                        self.holding = False
                        await self._release()
                elif not await self._depose_dead_holder():
                    await self._sleep(LOCK_POLL_SECONDS)
        finally:
            self.holding = False

    async def _take_lock(self) -> bool:
        taken = await self.redis.eval(
            _TAKE_IF_FREE_OR_OURS,
            1,
            lock_key(self.public_id),
            self.token,
            int(self.lock_seconds * 1000),
        )
        return bool(taken)

    async def _depose_dead_holder(self) -> bool:
        """Frees the lock if its holder's process is gone (nobody subscribed to its alive
        channel); True if it did."""
        holder = await self.redis.get(lock_key(self.public_id))
        if holder is None:
            return True  # free again: try at once
        token = holder.decode()
        counts = await self.redis.pubsub_numsub(alive_channel(token))
        if not counts or int(counts[0][1]) > 0:
            return False
        deposed = await self.redis.eval(_RELEASE_IF_OWNER, 1, lock_key(self.public_id), token)
        if deposed:
            logger.warning(
                "relay lock of %s: its holder's process is gone; taking over", self.public_id
            )
        return bool(deposed)

    async def _release(self) -> None:
        # Shielded: a cancelled feed must still hand the lock over at once, not after its TTL.
        with contextlib.suppress(Exception):
            await asyncio.shield(
                self.redis.eval(_RELEASE_IF_OWNER, 1, lock_key(self.public_id), self.token)
            )

    async def _hold(self) -> None:
        """Follow the bridge while the lock is ours; a failure of either half (Redis gone)
        is raised once both are stopped."""
        results = await until_first_done(self._renew(), self._follow_forever())
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def _renew(self) -> None:
        """Returns (ending the hold) when the lock was lost, e.g. after a long stall."""
        while True:
            await asyncio.sleep(LOCK_RENEW_SECONDS)
            renewed = await self.redis.eval(
                _RENEW_IF_OWNER,
                1,
                lock_key(self.public_id),
                self.token,
                int(self.lock_seconds * 1000),
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
        cursor = int(stored) if stored is not None else self.last_published
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
        self.last_published = events[-1].id
        if any(event.type in SERVICE_REGISTRY_EVENTS for event in events):
            # The agent defined or removed a service: on fly, its Sprite service follows.
            await database_sync_to_async(request_reconcile, thread_sensitive=False)(self.public_id)
        return events[-1].id

    async def _publish_state(self, state: RelayState) -> None:
        if state == self._published_state:
            return
        # The key first: a feed that (re)joins the group reads it after joining, so it gets
        # the state either from the key or from the message that follows.
        await self.redis.set(state_key(self.public_id), state, ex=STATE_TTL_SECONDS)
        await self.layer.group_send(project_group(self.public_id), relay_state_message(state))
        self._published_state = state

    async def _sleep(self, seconds: float) -> None:
        self._wakeup.clear()
        await wait_or_timeout(self._wakeup, seconds)
