"""Websockets of the dashboard: a project's live events, and the home screen's badges.

``/ws/projects/<public_id>/`` protocol (the browser workspace and programs speak it):

* close 4401: nobody is logged in (no session from the dashboard's origin, no valid token);
  close 4404: no such project for this person; close 4400: a malformed message.
* The client's first message is ``{"type": "subscribe", "after": N}``: N is the last event
  id it has (``null``: live only; ``0``: everything the bridge keeps).
* The server sends ``{"kind": "event", "event": {...}}`` for every event with an id above N,
  exactly once and in order, then live ones; ``{"kind": "lifecycle", "payload": {...}}`` for
  lifecycle progress; ``{"kind": "relay", "state": ...}`` about the upstream.

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

from projects.broadcast import user_group
from projects.models import Project
from projects.relay import (
    ProjectFeed,
    RelayUnavailable,
    Replay,
    SseEvent,
    bridge_target,
    get_hub,
    lifecycle_frame,
    relay_frame,
)

logger = logging.getLogger(__name__)

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_FAR_BEHIND = 4408
MAX_BUFFERED = 20_000
CATCH_UP_RETRY_SECONDS = 2.0

Buffered = tuple[SseEvent, int | None]


def _find_project(user: Any, public_id: str) -> Project | None:
    return Project.objects.for_user(user).filter(public_id=public_id).first()


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

    async def connect(self) -> None:
        # Accept first: only an accepted websocket can be closed with an application code.
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        public_id = str(self.scope["url_route"]["kwargs"]["public_id"])
        find = database_sync_to_async(_find_project, thread_sensitive=False)
        if await find(user, public_id) is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.public_id = public_id
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
        if after is not None:
            self._start_catch_up(after)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.feed is not None:
            get_hub().leave(self.public_id, self)
            self.feed = None
        task = getattr(self, "catch_up_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    # -- called by the feed -------------------------------------------------------------------

    async def deliver_frame(self, frame: str) -> None:
        if not self.closing:
            await self.send(text_data=frame)

    async def deliver_event(self, event: SseEvent, previous_id: int | None) -> None:
        if self.closing:
            return
        if self.catching_up:
            self.buffer.append((event, previous_id))
            if len(self.buffer) > MAX_BUFFERED:
                await self._too_far_behind()
            return
        if self._missed_before(event, previous_id):
            self.catching_up = True
            self.buffer.append((event, previous_id))
            assert self.last_sent is not None
            self._start_catch_up(self.last_sent)
            return
        await self._send_event(event)

    # -- exactly once -------------------------------------------------------------------------

    def _missed_before(self, event: SseEvent, previous_id: int | None) -> bool:
        return (
            event.type != "reset"
            and self.last_sent is not None
            and previous_id is not None
            and previous_id > self.last_sent
        )

    async def _send_event(self, event: SseEvent) -> None:
        event_id = event.id
        if event.type == "reset":
            # A reset's id is the log's last id; the same reset can come from a replay and
            # from the live stream, and it can lower the cursor (a restored checkpoint).
            if self.last_reset == event_id and self.last_sent == event_id:
                return
            self.last_reset = event_id
        elif self.last_sent is not None and event_id <= self.last_sent:
            return
        self.last_sent = event_id
        await self.send(text_data=event.frame)

    def _start_catch_up(self, after: int) -> None:
        self.catch_up_task = asyncio.create_task(self._catch_up(after))

    async def _catch_up(self, after: int) -> None:
        """Replay from the bridge, then flush the buffer; repeat while the buffer shows a gap."""
        cursor = after
        while True:
            await self._replay(cursor)
            gap = False
            while self.buffer:
                event, previous_id = self.buffer[0]
                if self._missed_before(event, previous_id):
                    gap = True
                    break
                self.buffer.popleft()
                await self._send_event(event)
            if not gap:
                # No await between the empty check and this: nothing can slip past the buffer.
                self.catching_up = False
                return
            assert self.last_sent is not None
            cursor = self.last_sent

    async def _replay(self, after: int) -> None:
        hub = get_hub()
        while True:
            try:
                endpoint = await bridge_target(self.public_id)
                replay = Replay(hub.http, endpoint, after)
                reset = False
                async for event in replay.events():
                    reset = reset or event.type == "reset"
                    await self._send_event(event)
                if replay.last_id is not None and not reset:
                    self.last_sent = max(self.last_sent or 0, replay.last_id)
                return
            except RelayUnavailable as unavailable:
                await self.deliver_frame(relay_frame(unavailable.state))
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
    """``/ws/home/``: lifecycle updates of all of the person's projects (list badges)."""

    group = ""

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(int(user.pk))
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def lifecycle_update(self, message: dict[str, Any]) -> None:
        await self.send(text_data=lifecycle_frame(message.get("payload", {})))
