"""The relay's side of the bridge: the one upstream event stream per project, and replays.

* Every feed (projects/relay.py) runs an **upstream candidate**. At most one candidate per
  project, in any process, holds the Redis lock ``relay:lock:<public_id>`` (``SET NX EX``,
  renewed every ``LOCK_RENEW_SECONDS``); the holder follows the bridge's
  ``GET /starter/events`` and publishes each event to the project's pub/sub channel. If the
  holder dies its lock expires and another candidate takes over; if it loses the upstream it
  reconnects. Either way the stream resumes with ``Last-Event-ID`` = the last id published,
  kept in Redis.
* Each published event carries ``previous_id``: the id the publisher published before it
  (or, for the first event of a fresh stream, the log position the stream started from).
* A **replay** (``Replay``) is a replay-only request a viewer makes to catch up: the kept
  events after its cursor, then the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

import httpx
from channels.db import database_sync_to_async

from bridge_agent.concurrency import until_first_done
from projects.bridge.client import BridgeError, endpoint_for
from projects.broadcast import project_group
from projects.models import Project, Status
from projects.relay.wire import (
    MAX_BATCH_EVENTS,
    SseEvent,
    SseParser,
    connects_key,
    cursor_key,
    events_channel,
    lock_key,
    published_payload,
)
from sprites.backends import BridgeEndpoint

if TYPE_CHECKING:
    from projects.relay.feed import RelayHub

logger = logging.getLogger(__name__)

RelayState = Literal["connected", "upstream_down", "sprite_not_running"]

LOCK_SECONDS = 10
LOCK_RENEW_SECONDS = 3.0
LOCK_POLL_SECONDS = 1.0
NOT_RUNNING_RETRY_SECONDS = 5.0
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
# The bridge sends a keep-alive comment every 15 s; three missed ones mean a dead upstream.
UPSTREAM_READ_TIMEOUT = 45.0
CURSOR_TTL_SECONDS = 7 * 24 * 3600
LAST_EVENT_ID_HEADER = "x-starter-last-event-id"

_RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RelayUnavailable(Exception):
    """The bridge cannot be reached now; ``state`` says why, in the websocket's words."""

    def __init__(self, state: RelayState, message: str) -> None:
        super().__init__(message)
        self.state = state


# -- reaching the bridge ------------------------------------------------------------------


def _bridge_target_sync(public_id: str) -> BridgeEndpoint:
    project = Project.objects.visible().select_related("owner").filter(public_id=public_id).first()
    if project is None or project.status != Status.RUNNING:
        raise RelayUnavailable("sprite_not_running", "The project is not running.")
    try:
        return endpoint_for(project)
    except BridgeError as error:
        raise RelayUnavailable("upstream_down", error.message) from error


_targets: dict[str, tuple[float, BridgeEndpoint]] = {}
TARGET_CACHE_SECONDS = 2.0


async def bridge_target(public_id: str, *, fresh: bool = False) -> BridgeEndpoint:
    """URL and token headers of a running project's bridge (never log the headers).

    Viewers catching up after a reconnect storm ask for the same project at once; for a
    couple of seconds they share one lookup. The upstream holder always asks ``fresh``.
    """
    cached = _targets.get(public_id)
    if not fresh and cached is not None and cached[0] > time.monotonic():
        return cached[1]
    endpoint = await database_sync_to_async(_bridge_target_sync, thread_sensitive=False)(public_id)
    _targets[public_id] = (time.monotonic() + TARGET_CACHE_SECONDS, endpoint)
    return endpoint


async def iterate_sse(response: httpx.Response) -> AsyncIterator[list[SseEvent]]:
    """The events of a bridge event stream, in order, in the groups they arrived in."""
    parser = SseParser()
    async for text in response.aiter_text():
        events = parser.feed(text)
        if events:
            yield events


class Replay:
    """A replay-only request: the kept events after a cursor, then the end.

    ``last_id`` (known once the response starts) is the log's last id when the replay was
    cut: after a complete replay, the reader has everything up to it.
    """

    def __init__(self, client: httpx.AsyncClient, endpoint: BridgeEndpoint, after: int) -> None:
        self.client = client
        self.endpoint = endpoint
        self.after = after
        self.last_id: int | None = None

    async def events(self) -> AsyncIterator[SseEvent]:
        headers = {**self.endpoint.headers, "Last-Event-ID": str(self.after)}
        try:
            async with self.client.stream(
                "GET",
                self.endpoint.base_url + "/starter/events",
                params={"replay_only": "1"},
                headers=headers,
            ) as response:
                if response.status_code != 200:
                    raise RelayUnavailable(
                        "upstream_down", f"The bridge answered {response.status_code}."
                    )
                header = response.headers.get(LAST_EVENT_ID_HEADER)
                self.last_id = int(header) if header and header.isdigit() else None
                async for events in iterate_sse(response):
                    for event in events:
                        yield event
        except httpx.HTTPError as error:
            raise RelayUnavailable("upstream_down", "The bridge is not answering.") from error


class UpstreamCandidate:
    """Takes the project's relay lock when it is free and, while holding it, follows the
    bridge's event stream and publishes every event to the project's pub/sub channel."""

    def __init__(self, hub: RelayHub, public_id: str) -> None:
        self.hub = hub
        self.public_id = public_id
        self.token = uuid.uuid4().hex
        self.holding = False
        self.connected = False
        self._wakeup = asyncio.Event()
        self._published_state: str | None = None

    def poke(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        redis = self.hub.redis
        try:
            while True:
                acquired = await redis.set(
                    lock_key(self.public_id), self.token, nx=True, ex=self.hub.lock_seconds
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
                self.hub.redis.eval(_RELEASE_IF_OWNER, 1, lock_key(self.public_id), self.token)
            )

    async def _hold(self) -> None:
        await until_first_done(self._renew(), self._follow_forever())

    async def _renew(self) -> None:
        """Returns (ending the hold) when the lock was lost, e.g. after a long stall."""
        while True:
            await asyncio.sleep(LOCK_RENEW_SECONDS)
            renewed = await self.hub.redis.eval(
                _RENEW_IF_OWNER, 1, lock_key(self.public_id), self.token, self.hub.lock_seconds
            )
            if not renewed:
                logger.warning("relay lock of %s lost; another process leads", self.public_id)
                return

    async def _follow_forever(self) -> None:
        failures = 0
        while True:
            try:
                endpoint = await bridge_target(self.public_id, fresh=True)
            except RelayUnavailable as unavailable:
                await self._publish_state(unavailable.state)
                await self._sleep(NOT_RUNNING_RETRY_SECONDS)
                continue
            self.connected = False
            try:
                await self._follow(endpoint)
            except (httpx.HTTPError, RelayUnavailable, ValueError) as error:
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
        redis = self.hub.redis
        stored = await redis.get(cursor_key(self.public_id))
        cursor = int(stored) if stored is not None else None
        headers = dict(endpoint.headers)
        if cursor is not None:
            headers["Last-Event-ID"] = str(cursor)
        async with self.hub.http.stream(
            "GET", endpoint.base_url + "/starter/events", headers=headers
        ) as response:
            if response.status_code != 200:
                raise RelayUnavailable("upstream_down", f"bridge answered {response.status_code}")
            if cursor is None:
                # A first stream is live-only; it starts where the log was when it opened.
                header = response.headers.get(LAST_EVENT_ID_HEADER, "")
                cursor = int(header) if header.isdigit() else None
            self.connected = True
            await redis.incr(connects_key(self.public_id))
            await self._publish_state("connected")
            # The bridge sends each event as its own HTTP chunk. Reading and publishing are
            # two tasks so that whatever arrives during one publish round trip goes out in
            # the next, together: one round trip per event would cap the rate at one event
            # per turn of a busy event loop.
            received: asyncio.Queue[list[SseEvent] | BaseException | None] = asyncio.Queue()
            reader = asyncio.create_task(self._read(response, received))
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
        response: httpx.Response, received: asyncio.Queue[list[SseEvent] | BaseException | None]
    ) -> None:
        """Queues the stream's events as they arrive, then ``None`` (ended) or the error."""
        try:
            async for events in iterate_sse(response):
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
        async with self.hub.redis.pipeline(transaction=False) as pipe:
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
        await self.hub.layer.group_send(
            project_group(self.public_id), {"type": "relay.state", "state": state}
        )

    async def _sleep(self, seconds: float) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
