"""The relay: one upstream event stream per project with viewers, fanned out to websockets.

Who does what:

* A **feed** (``ProjectFeed``) is this process's subscription to a project. It exists while
  this process has viewers of the project (and ``LINGER_SECONDS`` after the last one
  leaves). It is a member of the channel group ``project.<public_id>`` (``lifecycle.update``
  from Celery, ``relay.state`` from the upstream holder) and subscribed to the Redis pub/sub
  channel ``<prefix>:relay:events:<public_id>`` (the bridge events). It turns each message
  into a websocket frame once and hands it to every local viewer, so an event costs one
  delivery per *process*, not one per browser.
* Bridge events travel by Redis pub/sub rather than as ``bridge.event`` group messages: a
  channels-redis group message costs about six Redis round trips (send and receive), a
  publish one, pipelined with the cursor write. At 100 events/s per project that difference
  decides whether the relay keeps up (see bench/relay_bench.py). The event's JSON is never
  decoded on the way: the frame is built around the bridge's own bytes.
* Every feed runs an **upstream candidate**. At most one candidate per project, in any
  process, holds the Redis lock ``relay:lock:<public_id>`` (``SET NX EX``, renewed every
  ``LOCK_RENEW_SECONDS``); the holder follows the bridge's ``GET /starter/events`` and
  publishes each event to the group as ``bridge.event``. If the holder dies its lock expires
  and another candidate takes over; if it loses the upstream it reconnects. Either way the
  stream resumes with ``Last-Event-ID`` = the last id published, kept in Redis.
* Each published event carries ``previous_id``: the id the publisher published before it
  (or, for the first event of a fresh stream, the log position the stream started from). A
  viewer whose last sent id is lower than ``previous_id`` has missed something (it joined
  while no stream ran, or pub/sub dropped a message: it delivers at most once) and catches
  up from the
  bridge with a replay-only request (see ``iterate_replay``); the consumer owns that logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from projects.bridge_client import BridgeError, endpoint_for
from projects.broadcast import project_group
from projects.models import Project, Status
from sprites.backends import BridgeEndpoint

logger = logging.getLogger(__name__)

RelayState = Literal["connected", "upstream_down", "sprite_not_running"]

LOCK_SECONDS = 10
LOCK_RENEW_SECONDS = 3.0
LOCK_POLL_SECONDS = 1.0
LINGER_SECONDS = 5.0
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


def _key(kind: str, public_id: str) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:relay:{kind}:{public_id}"


def lock_key(public_id: str) -> str:
    return _key("lock", public_id)


def cursor_key(public_id: str) -> str:
    return _key("cursor", public_id)


def connects_key(public_id: str) -> str:
    """How many upstream streams were opened for the project (for tests and the benchmark)."""
    return _key("connects", public_id)


def events_channel(public_id: str) -> str:
    return _key("events", public_id)


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One bridge event as it came off the wire: its envelope JSON is kept as text."""

    id: int
    type: str
    data: str

    @property
    def frame(self) -> str:
        return '{"kind":"event","event":' + self.data + "}"

    def published(self, previous_id: int | None) -> str:
        """Pub/sub payload: ``<previous id or -> <id> <type>`` on the first line, then data."""
        previous = "-" if previous_id is None else str(previous_id)
        return f"{previous} {self.id} {self.type}\n{self.data}"


def parse_published(payload: str) -> tuple[int | None, SseEvent]:
    header, _, data = payload.partition("\n")
    previous, event_id, event_type = header.split(" ", 2)
    event = SseEvent(int(event_id), event_type, data)
    return (None if previous == "-" else int(previous)), event


def relay_frame(state: str) -> str:
    return json.dumps({"kind": "relay", "state": state})


def lifecycle_frame(payload: dict[str, Any]) -> str:
    return json.dumps({"kind": "lifecycle", "payload": payload}, separators=(",", ":"))


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


async def iterate_sse(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The events of a bridge event stream, in order; comments and ``retry`` are skipped.

    The bridge writes ``id``, ``event`` and one ``data`` line (compact JSON) per event.
    """
    event_id: int | None = None
    event_type = "message"
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data and event_id is not None:
                yield SseEvent(event_id, event_type, "\n".join(data))
            event_id, event_type, data = None, "message", []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "id":
            event_id = int(value)
        elif name == "event":
            event_type = value


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
                async for event in iterate_sse(response):
                    yield event
        except httpx.HTTPError as error:
            raise RelayUnavailable("upstream_down", "The bridge is not answering.") from error


# -- viewers and feeds --------------------------------------------------------------------


class Viewer(Protocol):
    """A websocket watching a project (see projects/consumers.py)."""

    async def deliver_event(self, event: SseEvent, previous_id: int | None) -> None: ...

    async def deliver_frame(self, frame: str) -> None: ...


class ProjectFeed:
    """This process's membership of one project's group, shared by its local viewers."""

    def __init__(self, hub: RelayHub, public_id: str) -> None:
        self.hub = hub
        self.public_id = public_id
        self.viewers: set[Viewer] = set()
        self.relay_state: str | None = None
        self.started = asyncio.Event()
        self.channel_name = ""
        self.pubsub: Any = None
        self.upstream = UpstreamCandidate(hub, public_id)
        self._tasks: list[asyncio.Task[None]] = []
        self._linger: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the group before anyone relies on the feed: nothing published after this
        returns can be missed."""
        layer = self.hub.layer
        self.channel_name = await layer.new_channel("relay")
        await layer.group_add(project_group(self.public_id), self.channel_name)
        self.pubsub = self.hub.redis.pubsub()
        await self.pubsub.subscribe(events_channel(self.public_id))
        # The confirmation means Redis has registered the subscription.
        while (await self.pubsub.get_message(timeout=10.0)) is None:
            pass
        self._tasks = [
            asyncio.create_task(self._receive(), name=f"relay-feed-{self.public_id}"),
            asyncio.create_task(self._receive_events(), name=f"relay-events-{self.public_id}"),
            asyncio.create_task(self.upstream.run(), name=f"relay-upstream-{self.public_id}"),
        ]
        self.started.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.hub.layer.group_discard(project_group(self.public_id), self.channel_name)
        if self.pubsub is not None:
            with contextlib.suppress(Exception):
                await self.pubsub.aclose()

    async def _receive(self) -> None:
        layer = self.hub.layer
        while True:
            message = await layer.receive(self.channel_name)
            try:
                await self._dispatch(message)
            except Exception:  # one bad message must not end the feed of every viewer
                logger.exception("relay feed of %s failed on a message", self.public_id)

    async def _receive_events(self) -> None:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is None or message.get("type") != "message":
                continue
            try:
                previous_id, event = parse_published(message["data"].decode())
            except (ValueError, UnicodeDecodeError):
                logger.warning("relay feed of %s got a malformed event", self.public_id)
                continue
            for viewer in list(self.viewers):
                await viewer.deliver_event(event, previous_id)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "lifecycle.update":
            payload = message.get("payload", {})
            if payload.get("status") == Status.RUNNING:
                self.upstream.poke()  # a woken Sprite: do not wait for the slow retry
            frame = lifecycle_frame(payload)
            for viewer in list(self.viewers):
                await viewer.deliver_frame(frame)
        elif kind == "relay.state":
            self.relay_state = str(message.get("state"))
            frame = relay_frame(self.relay_state)
            for viewer in list(self.viewers):
                await viewer.deliver_frame(frame)

    def add(self, viewer: Viewer) -> None:
        self.viewers.add(viewer)
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def remove(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)
        if not self.viewers and self._linger is None:
            self._linger = asyncio.create_task(self._stop_after_linger())

    async def _stop_after_linger(self) -> None:
        await asyncio.sleep(self.hub.linger_seconds)
        if not self.viewers:
            self.hub.forget(self)
            await self.stop()


class RelayHub:
    """The feeds of this process, one per project with viewers here. One per event loop."""

    def __init__(
        self,
        *,
        layer: BaseChannelLayer | None = None,
        redis_url: str | None = None,
        linger_seconds: float = LINGER_SECONDS,
        lock_seconds: int = LOCK_SECONDS,
    ) -> None:
        resolved = layer or get_channel_layer()
        if resolved is None:
            raise RuntimeError("the relay needs a channel layer (CHANNEL_LAYERS)")
        self.layer: Any = resolved
        self.redis: aioredis.Redis = aioredis.Redis.from_url(redis_url or settings.REDIS_URL)
        self.linger_seconds = linger_seconds
        self.lock_seconds = lock_seconds
        # Replays and upstream streams are few and long; pooled idle connections to a
        # bridge would only blur the "one connection per project" count.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=UPSTREAM_READ_TIMEOUT),
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self.feeds: dict[str, ProjectFeed] = {}

    async def join(self, public_id: str, viewer: Viewer) -> ProjectFeed:
        """Add a viewer; returns once the feed is in the group (events after this reach it)."""
        feed = self.feeds.get(public_id)
        if feed is None:
            feed = ProjectFeed(self, public_id)
            self.feeds[public_id] = feed
            feed.add(viewer)
            try:
                await feed.start()
            except BaseException:
                self.forget(feed)
                raise
        else:
            feed.add(viewer)
            await feed.started.wait()
        if feed.relay_state is not None:
            await viewer.deliver_frame(relay_frame(feed.relay_state))
        return feed

    def leave(self, public_id: str, viewer: Viewer) -> None:
        feed = self.feeds.get(public_id)
        if feed is not None:
            feed.remove(viewer)

    def forget(self, feed: ProjectFeed) -> None:
        if self.feeds.get(feed.public_id) is feed:
            del self.feeds[feed.public_id]

    async def close(self) -> None:
        feeds = list(self.feeds.values())
        self.feeds.clear()
        await asyncio.gather(*(feed.stop() for feed in feeds), return_exceptions=True)
        await self.http.aclose()
        await self.redis.aclose()  # type: ignore[attr-defined]


_hubs: dict[asyncio.AbstractEventLoop, RelayHub] = {}


def get_hub() -> RelayHub:
    """The hub of the running event loop (daphne runs one loop per process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = RelayHub()
    return hub


# -- the one upstream stream per project ----------------------------------------------------


class UpstreamCandidate:
    """Takes the project's relay lock when it is free and, while holding it, follows the
    bridge's event stream and publishes every event to the project's group."""

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
        tasks = [asyncio.create_task(self._renew()), asyncio.create_task(self._follow_forever())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

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
            channel = events_channel(self.public_id)
            async for event in iterate_sse(response):
                # One round trip: the event out, and the cursor a successor resumes from.
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.publish(channel, event.published(cursor))
                    pipe.set(cursor_key(self.public_id), event.id, ex=CURSOR_TTL_SECONDS)
                    await pipe.execute()
                cursor = event.id

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
