"""The relay's fan-out in one web process: a feed per watched project, and the hub of feeds.

* A **feed** (``ProjectFeed``) is this process's subscription to a project. It exists while
  this process has viewers of the project (and ``LINGER_SECONDS`` after the last one
  leaves). It is a member of the channel group ``project.<public_id>`` (``lifecycle.update``
  from Celery, ``relay.state`` from the upstream holder) and subscribed to the Redis pub/sub
  channel ``<prefix>:relay:events:<public_id>`` (the bridge events). It hands what arrived to
  every local viewer as one batch, whose websocket frame is built once, so an event costs
  one delivery per *process*, not one per browser, and under load one frame per viewer per
  batch, not per event.
* Bridge events travel by Redis pub/sub rather than as ``bridge.event`` group messages: a
  channels-redis group message costs about six Redis round trips (send and receive), a
  publish one, pipelined with the cursor write. At 100 events/s per project that difference
  decides whether the relay keeps up (see bench/relay_bench.py). The event's JSON is never
  decoded on the way: the frame is built around the bridge's own bytes
  (projects/relay/wire.py).
* Every feed runs an **upstream candidate** (projects/relay/upstream.py), handing it the
  hub's Redis, channel layer and HTTP client: at most one per project, in any process,
  holds the project's Redis lock and follows the bridge.

See projects/relay/__init__.py for the whole path and its cursors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
import redis.asyncio as aioredis
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from projects.bridge.events import STREAM_TIMEOUT, SseEvent
from projects.broadcast import project_group
from projects.models import Status
from projects.relay.supervision import supervise
from projects.relay.upstream import LOCK_SECONDS, UpstreamCandidate
from projects.relay.watchers import presence_frame
from projects.relay.wire import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    PublishedBatch,
    alive_channel,
    author_frame,
    events_channel,
    gateway_frame,
    lifecycle_frame,
    parse_published,
    relay_frame,
    state_key,
)

logger = logging.getLogger(__name__)

LINGER_SECONDS = 5.0


class Viewer(Protocol):
    """A websocket watching a project (see projects/relay/consumers.py).

    The feed calls these one viewer at a time; one that raises (its socket is closing) is
    dropped from the feed, and the others go on.
    """

    async def deliver_events(self, batch: PublishedBatch) -> None: ...

    async def deliver_frame(self, frame: str) -> None: ...

    def resync(self) -> None:
        """The feed may have missed published events (it lost Redis and is back): catch up
        from the bridge after the last id sent, as after a ``previous_id`` gap."""


class ProjectFeed:
    """This process's membership of one project's group, shared by its local viewers.

    Three tasks, each under ``supervise`` (projects/relay/supervision.py), so none can die
    silently or for good: the channel-layer reader (``relay-feed-<id>``), the pub/sub reader
    (``relay-events-<id>``) and the upstream candidate (``relay-upstream-<id>``). A reader
    that loses Redis tells the viewers ``upstream_down`` (no live event can reach them
    now), reconnects with backoff (re-joining the group, re-subscribing the channels), then
    tells them the holder's state again and has each viewer catch up from the bridge, so
    what was published while it was away is neither lost nor sent twice.
    """

    def __init__(self, hub: RelayHub, public_id: str) -> None:
        self.hub = hub
        self.public_id = public_id
        self.viewers: set[Viewer] = set()
        self.relay_state: str | None = None
        self.started = asyncio.Event()
        self.channel_name = ""
        self.pubsub: Any = None
        self.upstream = UpstreamCandidate(
            public_id,
            redis=hub.redis,
            layer=hub.layer,
            http=hub.http,
            lock_seconds=hub.lock_seconds,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._linger: asyncio.Task[None] | None = None
        self._in_group = False
        self._lost_events = False  # the pub/sub reader was cut off: viewers must resync
        self._first_attempts = 0

    async def start(self) -> None:
        """Start the readers and return once each has made its first attempt to connect.

        When Redis answers, the feed is in the group and subscribed when this returns, so
        nothing published after it can be missed. When Redis does not, the viewers are told
        ``upstream_down`` and resynced once the readers are back.
        """
        tried = asyncio.Event()
        self._first_attempts = 0

        def attempted() -> None:
            self._first_attempts += 1
            if self._first_attempts == 2:
                tried.set()

        # A name of this process's own (no Redis round trip): the readers join with it. The
        # default prefix, shared by every process-local channel here: channels-redis pops one
        # Redis list per prefix under one process-wide lock, so a second prefix (the home
        # socket's "home" once) left the other's messages unread while the holder idled.
        self.channel_name = await self.hub.layer.new_channel()
        public_id = self.public_id
        self._tasks = [
            asyncio.create_task(
                supervise(
                    f"relay-feed-{public_id}",
                    lambda: self._receive(attempted),
                    on_failure=self._lost_group,
                ),
                name=f"relay-feed-{public_id}",
            ),
            asyncio.create_task(
                supervise(
                    f"relay-events-{public_id}",
                    lambda: self._receive_events(attempted),
                    on_failure=self._lost_events_channel,
                ),
                name=f"relay-events-{public_id}",
            ),
            asyncio.create_task(
                supervise(f"relay-upstream-{public_id}", self.upstream.run),
                name=f"relay-upstream-{public_id}",
            ),
        ]
        await tried.wait()
        self.started.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._in_group:
            with contextlib.suppress(Exception):
                await self.hub.layer.group_discard(project_group(self.public_id), self.channel_name)
        await self._close_pubsub()

    # -- the channel layer: lifecycle updates and relay states --------------------------------

    async def _receive(self, attempted: Callable[[], None] | None = None) -> None:
        layer = self.hub.layer
        try:
            if not self._in_group:
                await layer.group_add(project_group(self.public_id), self.channel_name)
                self._in_group = True
                await self._read_state()
        finally:
            if attempted is not None:
                attempted()
        while True:
            message = await layer.receive(self.channel_name)
            try:
                await self._dispatch(message)
            except Exception:  # one bad message must not end the feed of every viewer
                logger.exception("relay feed of %s failed on a message", self.public_id)

    async def _lost_group(self, error: BaseException) -> None:
        # A restarted Redis forgets the group; joining again is harmless if it did not.
        # (The viewers hear of a lost Redis from the pub/sub reader, which loses it too.)
        self._in_group = False

    async def _read_state(self) -> None:
        """The holder's last relay state, which a (re)joining feed may have missed."""
        stored = await self.hub.redis.get(state_key(self.public_id))
        if stored is not None and self.relay_state != stored.decode():
            await self._set_state(stored.decode())

    # -- pub/sub: the bridge events -----------------------------------------------------------

    async def _receive_events(self, attempted: Callable[[], None] | None = None) -> None:
        """Hands each viewer what arrived since the last round, as one batch.

        Idle, a batch is the one event that woke the loop (no added latency); under load,
        everything already waiting comes along, so a viewer gets one frame per round rather
        than one per event, and the frame is built once for all of them.
        """
        try:
            if self.pubsub is None:
                await self._subscribe()
        finally:
            if attempted is not None:
                attempted()
        if self._lost_events:
            # A restarted Redis has forgotten the group too, and the channel layer's reader
            # may not have noticed (its client reconnects once by itself): join again.
            await self.hub.layer.group_add(project_group(self.public_id), self.channel_name)
            self._lost_events = False
            await self._read_state()
            for viewer in list(self.viewers):
                self._resync(viewer)
        pubsub = self.pubsub
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            items: list[tuple[SseEvent, int | None]] = []
            size = self._take(message, items)
            while len(items) < MAX_BATCH_EVENTS and size < MAX_BATCH_BYTES:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
                if message is None:
                    break
                size += self._take(message, items)
            for start in range(0, len(items), MAX_BATCH_EVENTS):
                batch = PublishedBatch(items[start : start + MAX_BATCH_EVENTS])
                for viewer in list(self.viewers):
                    await self.deliver(viewer, viewer.deliver_events(batch))

    async def _subscribe(self) -> None:
        pubsub: Any = self.hub.redis.pubsub()
        try:
            await pubsub.subscribe(
                events_channel(self.public_id), alive_channel(self.upstream.token)
            )
            # The confirmations mean Redis has registered both subscriptions.
            confirmed = 0
            while confirmed < 2:
                message = await pubsub.get_message(timeout=10.0)
                if message is not None and message.get("type") == "subscribe":
                    confirmed += 1
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        self.pubsub = pubsub
        self.upstream.announced.set()

    async def _lost_events_channel(self, error: BaseException) -> None:
        self.upstream.announced.clear()
        self._lost_events = True
        await self._close_pubsub()
        await self._tell_down()

    async def _close_pubsub(self) -> None:
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _take(
        self, message: dict[str, Any] | None, items: list[tuple[SseEvent, int | None]]
    ) -> int:
        """Adds a pub/sub message's events to ``items``; returns its size in bytes."""
        if message is None or message.get("type") != "message":
            return 0
        data: bytes = message["data"]
        try:
            published = parse_published(data.decode())
        except (ValueError, UnicodeDecodeError):
            logger.warning("relay feed of %s got a malformed event", self.public_id)
            return 0
        items.extend((event, previous_id) for previous_id, event in published)
        return len(data)

    # -- to the viewers -----------------------------------------------------------------------

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "lifecycle.update":
            payload = message.get("payload", {})
            if payload.get("status") == Status.RUNNING:
                self.upstream.poke()  # a woken Sprite: do not wait for the slow retry
            frame = lifecycle_frame(payload)
            for viewer in list(self.viewers):
                await self.deliver(viewer, viewer.deliver_frame(frame))
        elif kind == "gateway.update":
            frame = gateway_frame(message.get("payload", {}))
            for viewer in list(self.viewers):
                await self.deliver(viewer, viewer.deliver_frame(frame))
        elif kind == "relay.state":
            await self._set_state(str(message.get("state")))
        elif kind == "prompt.author":
            fields = [message.get(name) for name in ("session_id", "text", "author")]
            if all(isinstance(field, str) for field in fields):
                frame = author_frame(*(str(field) for field in fields))
                for viewer in list(self.viewers):
                    await self.deliver(viewer, viewer.deliver_frame(frame))
        elif kind == "presence.update":
            watchers = message.get("watchers")
            frame = presence_frame([str(name) for name in watchers or []][:100])
            for viewer in list(self.viewers):
                await self.deliver(viewer, viewer.deliver_frame(frame))

    async def _tell_down(self) -> None:
        if self.relay_state != "upstream_down":
            await self._set_state("upstream_down")

    async def _set_state(self, state: str) -> None:
        self.relay_state = state
        frame = relay_frame(state)
        for viewer in list(self.viewers):
            await self.deliver(viewer, viewer.deliver_frame(frame))

    async def deliver(self, viewer: Viewer, delivery: Awaitable[None]) -> None:
        """One viewer's delivery: if its socket fails (it is closing), only it is dropped."""
        try:
            await delivery
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.info(
                "relay feed of %s dropped a viewer whose send failed (%s: %s)",
                self.public_id,
                type(error).__name__,
                error,
            )
            self.remove(viewer)

    def _resync(self, viewer: Viewer) -> None:
        try:
            viewer.resync()
        except Exception:
            logger.exception("relay feed of %s could not resync a viewer", self.public_id)
            self.remove(viewer)

    # -- membership ---------------------------------------------------------------------------

    def add(self, viewer: Viewer) -> None:
        self.viewers.add(viewer)
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def remove(self, viewer: Viewer) -> None:
        if viewer not in self.viewers:
            return
        self.viewers.discard(viewer)
        if not self.viewers and self._linger is None:
            self._linger = asyncio.create_task(
                self._stop_after_linger(), name=f"relay-linger-{self.public_id}"
            )

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
        lock_seconds: float = LOCK_SECONDS,
    ) -> None:
        resolved = layer or get_channel_layer()
        if resolved is None:
            raise RuntimeError("the relay needs a channel layer (CHANNEL_LAYERS)")
        self.layer: Any = resolved
        # No retries inside redis-py: a lost Redis must reach the feed's supervised tasks
        # at once (they tell the viewers, re-subscribe and resync), not be papered over
        # by a silent reconnect that resubscribes after events were published unheard.
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            redis_url or settings.REDIS_URL,
            retry=Retry(NoBackoff(), 0),
            **settings.REDIS_CONNECTION_OPTIONS,
        )
        self.linger_seconds = linger_seconds
        self.lock_seconds = lock_seconds
        # Replays and upstream streams are few and long; pooled idle connections to a
        # bridge would only blur the "one connection per project" count.
        self.http = httpx.AsyncClient(
            timeout=STREAM_TIMEOUT,
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
                await feed.stop()
                raise
        else:
            feed.add(viewer)
            await feed.started.wait()
        if feed.relay_state is not None:
            await feed.deliver(viewer, viewer.deliver_frame(relay_frame(feed.relay_state)))
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
