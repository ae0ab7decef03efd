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
from typing import Any, Protocol

import httpx
import redis.asyncio as aioredis
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from projects.bridge.events import STREAM_TIMEOUT, SseEvent
from projects.broadcast import project_group
from projects.models import Status
from projects.relay.upstream import LOCK_SECONDS, UpstreamCandidate
from projects.relay.wire import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    PublishedBatch,
    events_channel,
    lifecycle_frame,
    parse_published,
    relay_frame,
)

logger = logging.getLogger(__name__)

LINGER_SECONDS = 5.0


class Viewer(Protocol):
    """A websocket watching a project (see projects/relay/consumers.py)."""

    async def deliver_events(self, batch: PublishedBatch) -> None: ...

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
        self.upstream = UpstreamCandidate(
            public_id,
            redis=hub.redis,
            layer=hub.layer,
            http=hub.http,
            lock_seconds=hub.lock_seconds,
        )
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
        """Hands each viewer what arrived since the last round, as one batch.

        Idle, a batch is the one event that woke the loop (no added latency); under load,
        everything already waiting comes along, so a viewer gets one frame per round rather
        than one per event, and the frame is built once for all of them.
        """
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            items: list[tuple[SseEvent, int | None]] = []
            size = self._take(message, items)
            while len(items) < MAX_BATCH_EVENTS and size < MAX_BATCH_BYTES:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
                if message is None:
                    break
                size += self._take(message, items)
            for start in range(0, len(items), MAX_BATCH_EVENTS):
                batch = PublishedBatch(items[start : start + MAX_BATCH_EVENTS])
                for viewer in list(self.viewers):
                    await viewer.deliver_events(batch)

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
