"""Websockets of the dashboard: a project's live events, and the home screen's badges.

``/ws/projects/<public_id>/`` protocol (the browser workspace and programs speak it):

* close 4401: nobody is logged in (no session from the dashboard's origin, no valid token);
  close 4404: no such project for this person; close 4400: a malformed message.
* Any member of the project's organisation may watch (a viewer too): the only message a
  client sends is the subscribe below, which acts on nothing. A message that acts on the
  project would need the member role (``Ability.USE``), checked on its arrival.
* The client's first message is ``{"type": "subscribe", "after": N}``: N is the last event
  id it has (``null``: live only; ``0``: everything the bridge keeps).
* The server sends every event with an id above N, exactly once and in order, then live
  ones: one event alone as ``{"kind": "event", "event": {...}}``, several that are ready at
  once (a replay, or live events that queued up under load) as
  ``{"kind": "events", "events": [{...}, ...]}``, oldest first. A client handles both.
  ``{"kind": "lifecycle", "payload": {...}}`` is lifecycle progress;
  ``{"kind": "relay", "state": ...}`` is about the upstream.

Exactly once, in order: the consumer joins the project's feed *first* and buffers what it
brings, then replays ids above N from the bridge (a replay-only request), then flushes the
buffer, then goes live, always skipping ids it already sent. When a live event says that
something came before it that this socket never got (``previous_id`` above the last sent
id), the consumer catches up from the bridge again in the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from projects.bridge.events import Replay, SseEvent, bridge_target
from projects.broadcast import user_group
from projects.errors import BridgeError
from projects.lifecycle.presence import viewer_present
from projects.lookup import find_project_for_user
from projects.relay.feed import ProjectFeed, get_hub
from projects.relay.revocation import Watch, stop_watching, until_told, watch_membership
from projects.relay.supervision import supervise
from projects.relay.watchers import presence_frame, watching
from projects.relay.wire import (
    MAX_BATCH_EVENTS,
    PublishedBatch,
    events_frame,
    gateway_frame,
    lifecycle_frame,
    relay_frame,
    unavailable_state,
)

logger = logging.getLogger(__name__)

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_FAR_BEHIND = 4408
CLOSE_INTERNAL_ERROR = 1011
MAX_BUFFERED = 20_000
CATCH_UP_RETRY_SECONDS = 2.0

Buffered = tuple[SseEvent, int | None]


def parse_subscribe(text: str | None) -> int | None:
    """The ``after`` cursor of a subscribe message; ValueError with a reason otherwise."""
    try:
        message = json.loads(text or "")
    except json.JSONDecodeError:
        raise ValueError('Send JSON: {"type": "subscribe", "after": N}.') from None
    if not isinstance(message, dict) or message.get("type") != "subscribe":
        raise ValueError('The first message must be {"type": "subscribe", "after": N}.')
    after = message.get("after")
    if after is None:
        return None
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError("'after' must be null or a non-negative integer event id.")
    return after


class ProjectEventsConsumer(AsyncWebsocketConsumer):
    # No channel of its own: the process's feed of the project hands events to it directly,
    # so a group message costs one channel-layer delivery per process, not per browser.
    channel_layer_alias = "relay-viewers-have-no-channel"
    public_id = ""
    feed: ProjectFeed | None = None
    presence: contextlib.AsyncExitStack | None = None
    watchers: contextlib.AsyncExitStack | None = None
    membership_watch: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        # Accept first: only an accepted websocket can be closed with an application code.
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        public_id = str(self.scope["url_route"]["kwargs"]["public_id"])
        # Removed from the project's organisation: the socket closes at once (4404). The
        # watch starts before the lookup, which is its membership check.
        watch = await watch_membership(int(user.pk))
        find = database_sync_to_async(find_project_for_user, thread_sensitive=False)
        try:
            project = await find(user, public_id)
        except BaseException:
            stop_watching(watch)
            raise
        if project is None:
            stop_watching(watch)
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if watch is not None:
            watch.bind(project.organisation_id)
        self.public_id = public_id
        self.membership_watch = asyncio.create_task(
            self._close_when_removed(watch), name=f"relay-membership-{public_id}"
        )
        # An open workspace counts as use: idle sleep leaves the project awake meanwhile.
        self.presence = contextlib.AsyncExitStack()
        await self.presence.enter_async_context(viewer_present(public_id))
        self.last_sent: int | None = None
        self.last_reset: int | None = None
        self.catching_up = False
        self.buffer: deque[Buffered] = deque()
        self.catch_up_task: asyncio.Task[None] | None = None
        self.closing = False

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.public_id or self.closing:
            return
        if self.feed is not None:
            await self._refuse("Subscribe once per connection; reconnect to change the cursor.")
            return
        try:
            after = parse_subscribe(text_data)
        except ValueError as error:
            await self._refuse(str(error))
            return
        self.catching_up = after is not None
        self.last_sent = after
        self.feed = await get_hub().join(self.public_id, self)
        await self._watch()
        if after is not None:
            self._start_catch_up(after)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        # First what keeps the project awake: nothing below may hold it open.
        if self.presence is not None:
            presence, self.presence = self.presence, None
            await presence.aclose()
        if self.feed is not None:
            get_hub().leave(self.public_id, self)
            self.feed = None
        if self.watchers is not None:
            watchers, self.watchers = self.watchers, None
            await watchers.aclose()
        watch = self.membership_watch
        if watch is not None and watch is not asyncio.current_task():
            self.membership_watch = None
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
        task = getattr(self, "catch_up_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _watch(self) -> None:
        """Count this socket's person among the project's watchers (the top bar's "also
        here") until it closes; the one who just came gets the list at once."""
        user = self.scope.get("user")
        email = str(getattr(user, "email", "") or "")
        if not email:
            return
        hub = get_hub()
        self.watchers = contextlib.AsyncExitStack()
        watchers = await self.watchers.enter_async_context(
            watching(hub.redis, hub.layer, self.public_id, email)
        )
        if watchers:
            await self.deliver_frame(presence_frame(watchers))

    async def _close_when_removed(self, watch: Watch | None) -> None:
        try:
            await until_told(watch)
        finally:
            stop_watching(watch)
        if not self.closing:
            self.closing = True
            await self.close(code=CLOSE_NOT_FOUND, reason="No longer a member.")

    # -- called by the feed -------------------------------------------------------------------

    def resync(self) -> None:
        """The feed was cut off from Redis and is back: whatever was published meanwhile
        never reached this socket, and no later event may come to reveal the gap, so catch
        up from the bridge now (what is live meanwhile is buffered, as on a gap)."""
        if self.closing or self.catching_up or self.last_sent is None:
            return
        self.catching_up = True
        self._start_catch_up(self.last_sent)

    async def deliver_frame(self, frame: str) -> None:
        if not self.closing:
            await self.send(text_data=frame)

    async def deliver_events(self, batch: PublishedBatch) -> None:
        if self.closing:
            return
        if self.catching_up:
            self.buffer.extend(batch.items)
            if len(self.buffer) > MAX_BUFFERED:
                await self._too_far_behind()
            return
        if batch.seamless and self._level_with(batch):
            # The common case: the frame the feed built once for every viewer.
            self.last_sent = batch.last_id
            await self.send(text_data=batch.frame)
            return
        outgoing: list[SseEvent] = []
        for index, (event, previous_id) in enumerate(batch.items):
            if self._missed_before(event, previous_id):
                # Buffer first (anything arriving meanwhile queues behind), start the catch-up
                # only once what came before the gap is on its way.
                self.catching_up = True
                self.buffer.extend(batch.items[index:])
                await self._send_events(outgoing)
                assert self.last_sent is not None
                self._start_catch_up(self.last_sent)
                return
            if self._admit(event):
                outgoing.append(event)
        await self._send_events(outgoing)

    # -- exactly once -------------------------------------------------------------------------

    def _level_with(self, batch: PublishedBatch) -> bool:
        """This socket has sent exactly what comes before the batch (or is live-only)."""
        if self.last_sent is None:
            return True
        previous_id = batch.first_previous_id
        return batch.first_id > self.last_sent and (
            previous_id is None or previous_id <= self.last_sent
        )

    def _missed_before(self, event: SseEvent, previous_id: int | None) -> bool:
        return (
            event.type != "reset"
            and self.last_sent is not None
            and previous_id is not None
            and previous_id > self.last_sent
        )

    def _admit(self, event: SseEvent) -> bool:
        """Whether the event is new to this socket; if so, it counts as sent from now on."""
        event_id = event.id
        if event.type == "reset":
            # A reset's id is the log's last id; the same reset can come from a replay and
            # from the live stream, and it can lower the cursor (a restored checkpoint).
            if self.last_reset == event_id and self.last_sent == event_id:
                return False
            self.last_reset = event_id
        elif self.last_sent is not None and event_id <= self.last_sent:
            return False
        self.last_sent = event_id
        return True

    async def _send_events(self, events: list[SseEvent]) -> None:
        for start in range(0, len(events), MAX_BATCH_EVENTS):
            await self.send(text_data=events_frame(events[start : start + MAX_BATCH_EVENTS]))

    def _start_catch_up(self, after: int) -> None:
        self.catch_up_task = asyncio.create_task(
            self._catch_up_or_close(after), name=f"relay-catch-up-{self.public_id}"
        )

    async def _catch_up_or_close(self, after: int) -> None:
        """A catch-up that fails leaves the socket unable to go live: close it, so the
        client reconnects with its last id (nothing is lost that way)."""
        try:
            await self._catch_up(after)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self.closing:
                return  # its socket closed under it: nothing to tell anyone
            logger.exception("relay-catch-up-%s died; closing its socket", self.public_id)
            self.closing = True
            with contextlib.suppress(Exception):
                await self.close(code=CLOSE_INTERNAL_ERROR)

    async def _catch_up(self, after: int) -> None:
        """Replay from the bridge, then flush the buffer; repeat while the buffer shows a gap."""
        cursor = after
        while True:
            await self._replay(cursor)
            if not await self._flush_buffer():
                # No await between the empty buffer and this: nothing can slip past it.
                self.catching_up = False
                return
            assert self.last_sent is not None
            cursor = self.last_sent

    async def _flush_buffer(self) -> bool:
        """Sends the buffered events in order up to a gap; True if a gap stopped it."""
        while self.buffer:
            outgoing: list[SseEvent] = []
            while self.buffer:
                event, previous_id = self.buffer[0]
                if self._missed_before(event, previous_id):
                    await self._send_events(outgoing)
                    return True
                self.buffer.popleft()
                if self._admit(event):
                    outgoing.append(event)
            # Live events that arrive while this is sent join the buffer for the next round.
            await self._send_events(outgoing)
        return False

    async def _replay(self, after: int) -> None:
        hub = get_hub()
        while True:
            outgoing: list[SseEvent] = []
            try:
                endpoint = await bridge_target(self.public_id)
                replay = Replay(hub.http, endpoint, after)
                reset = False
                async for event in replay.events():
                    reset = reset or event.type == "reset"
                    if self._admit(event):
                        outgoing.append(event)
                    if len(outgoing) >= MAX_BATCH_EVENTS:
                        await self._send_events(outgoing)
                        outgoing = []
                await self._send_events(outgoing)
                if replay.last_id is not None and not reset:
                    self.last_sent = max(self.last_sent or 0, replay.last_id)
                return
            except BridgeError as unavailable:
                # What was admitted before the drop counts as sent: send it before retrying.
                await self._send_events(outgoing)
                await self.deliver_frame(relay_frame(unavailable_state(unavailable)))
                after = self.last_sent if self.last_sent is not None else after
                await asyncio.sleep(CATCH_UP_RETRY_SECONDS)

    async def _too_far_behind(self) -> None:
        """Better a reconnect with the last id than an unbounded buffer."""
        self.closing = True
        await self.close(code=CLOSE_TOO_FAR_BEHIND)

    async def _refuse(self, reason: str) -> None:
        self.closing = True
        await self.close(code=CLOSE_BAD_MESSAGE, reason=reason[:120])


class HomeConsumer(AsyncWebsocketConsumer):
    """``/ws/home/``: lifecycle updates of all of the person's projects (list badges).

    It reads the channel layer in a task of its own (``relay-home-<user id>``) under
    ``supervise`` rather than through Channels' consumer loop, where a failed
    ``receive()`` (Redis restarted) would end the socket with 1011: the task re-joins the
    group and reads on, and the browser never notices.
    """

    # No channel from Channels' loop: the task below owns the channel and its receive.
    channel_layer_alias = "home-reads-its-channel-itself"
    group = ""
    receiver: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.layer: Any = get_channel_layer()
        # The default prefix, as every reader of the layer in this process must use: one
        # receive() holds channels-redis's process-wide receive lock while it pops the list
        # of its prefix until a message comes, so a reader of another prefix (the relay's
        # feed with "relay", say) starved for as long as this socket was idle.
        self.home_channel = await self.layer.new_channel()
        self.in_group = False
        # Join before accepting: once the browser sees the socket open, no update is missed.
        self.group = user_group(int(user.pk))
        await self.layer.group_add(self.group, self.home_channel)
        self.in_group = True
        name = f"relay-home-{user.pk}"
        self.receiver = asyncio.create_task(
            supervise(name, self._receive_updates, on_failure=self._lost_group), name=name
        )
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.receiver is not None:
            self.receiver.cancel()
            with contextlib.suppress(BaseException):
                await self.receiver
            self.receiver = None
        if self.group:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(self.group, self.home_channel)

    async def _receive_updates(self) -> None:
        if not self.in_group:
            await self.layer.group_add(self.group, self.home_channel)
            self.in_group = True
        while True:
            message = await self.layer.receive(self.home_channel)
            if message.get("type") not in {"lifecycle.update", "gateway.update"}:
                continue
            try:
                if message["type"] == "gateway.update":
                    await self.send(text_data=gateway_frame(message.get("payload", {})))
                else:
                    await self.lifecycle_update(message)
            except Exception as error:  # the socket is closing; disconnect() ends this task
                logger.info("home socket send failed (%s: %s)", type(error).__name__, error)

    async def _lost_group(self, error: BaseException) -> None:
        self.in_group = False  # a restarted Redis forgets groups; joining again is harmless

    async def lifecycle_update(self, message: dict[str, Any]) -> None:
        await self.send(text_data=lifecycle_frame(message.get("payload", {})))
