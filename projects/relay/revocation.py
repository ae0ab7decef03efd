"""Closing a person's live connections the moment they leave an organisation.

``organisations.members`` sends ``organisation.member_removed`` (with the person's and the
organisation's ids) to the removed person's ``user.<id>`` group
(``projects.broadcast.user_group``). Each project socket and terminal relay of theirs waits
in ``until_removed``; when the message names its person and the organisation of its
project, the wait ends and the socket closes (4404, as for a project that does not exist).

One ``MembershipWatches`` per process (per event loop) holds a single channel, on a
channel-layer instance of its own, in the groups of the people with a socket open here, and
one reader for it. With a channel and a reader per socket, every connect cost a group join
and every close a cancelled channel-layer receive and a group leave: under a reconnect storm
on a loaded machine (tests/relay/test_relay_churn.py) no viewer got a single event. The
person's group is joined before their membership is checked, so a removal sent between the
check and the join is not missed; after a lost Redis (which forgets groups) the reader joins
them all again and checks every watch against the database.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer

from accounts.models import User
from organisations.access import role_of
from organisations.members import MEMBER_REMOVED
from projects.broadcast import user_group
from projects.relay.supervision import REDIS_ERRORS, supervise

logger = logging.getLogger(__name__)


def _still_member(user_id: int, organisation_id: int) -> bool:
    user = User.objects.filter(pk=user_id).first()
    return user is not None and role_of(user, organisation_id) is not None


_check_membership = database_sync_to_async(_still_member, thread_sensitive=False)


class Watch:
    """One socket's wait for its person's removal from its project's organisation.

    Registered before the project is looked up (the lookup is the membership check), so
    it keeps the removals that arrive before it knows its organisation."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.organisation_id: int | None = None
        self.removed_from: set[int] = set()
        self.removed = asyncio.Event()

    def bind(self, organisation_id: int) -> None:
        self.organisation_id = organisation_id
        if organisation_id in self.removed_from:
            self.removed.set()

    def tell(self, organisation_id: int) -> None:
        self.removed_from.add(organisation_id)
        if organisation_id == self.organisation_id:
            self.removed.set()


class MembershipWatches:
    """The removal watches of one process: a channel in their people's groups, one reader."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.watches: dict[int, set[Watch]] = {}
        self.joined: set[int] = set()
        self.rejoin = False  # set when Redis was lost: the groups are gone with it
        self.lock = asyncio.Lock()
        self.reader: asyncio.Task[None] | None = None
        self.background: set[asyncio.Task[None]] = set()

    async def watch(self, user_id: int) -> Watch:
        """A registered watch; returns once a removal sent from now on will reach it."""
        watch = Watch(user_id)
        self.watches.setdefault(user_id, set()).add(watch)
        try:
            async with self.lock:
                if self.channel is None:
                    self.channel = await self.layer.new_channel()
                if user_id not in self.joined and not self.rejoin:
                    await self.layer.group_add(user_group(user_id), self.channel)
                    self.joined.add(user_id)
        except REDIS_ERRORS as error:
            # A new reader joins every group again (retrying while Redis is away) and checks
            # each watch, this one too, against the database. The running reader may be
            # healthy (a blip on this connection only) and would never notice.
            logger.info("membership watch of user %s deferred (%s)", user_id, error)
            self.rejoin = True
            if self.reader is not None:
                self.reader.cancel()
                self.reader = None
        except BaseException:
            self.release(watch)
            raise
        if self.reader is None or self.reader.done():
            self.reader = asyncio.create_task(
                supervise("relay-membership", self._read, on_failure=self._lost),
                name="relay-membership",
            )
        return watch

    def release(self, watch: Watch) -> None:
        """Forget a watch (never waits: a closing socket must not wait on Redis)."""
        watches = self.watches.get(watch.user_id)
        if watches is None:
            return
        watches.discard(watch)
        if not watches:
            del self.watches[watch.user_id]
            task = asyncio.create_task(self._leave(watch.user_id))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def _leave(self, user_id: int) -> None:
        async with self.lock:
            if user_id in self.watches:
                return  # someone came back meanwhile
            if user_id in self.joined and self.channel is not None:
                self.joined.discard(user_id)
                try:
                    await self.layer.group_discard(user_group(user_id), self.channel)
                except Exception as error:  # the group expires by itself
                    logger.info("membership group of user %s not left (%s)", user_id, error)
            if not self.watches and self.reader is not None:
                reader, self.reader = self.reader, None
                reader.cancel()

    async def _read(self) -> None:
        if self.rejoin:
            await self._join_again()
        assert self.channel is not None
        while True:
            message = await self.layer.receive(self.channel)
            if message.get("type") == MEMBER_REMOVED:
                self._removed(message.get("user_id"), message.get("organisation_id"))

    def _removed(self, user_id: object, organisation_id: object) -> None:
        if not isinstance(user_id, int) or not isinstance(organisation_id, int):
            return
        for watch in self.watches.get(user_id, ()):
            watch.tell(organisation_id)

    async def _lost(self, error: BaseException) -> None:
        self.rejoin = True

    async def _join_again(self) -> None:
        """A new channel in every watched person's group, then every watch checked: a
        removal sent while the groups were gone reached nobody."""
        async with self.lock:
            self.channel = await self.layer.new_channel()
            self.joined.clear()
            for user_id in list(self.watches):
                await self.layer.group_add(user_group(user_id), self.channel)
                self.joined.add(user_id)
            self.rejoin = False
        for watches in list(self.watches.values()):
            for watch in list(watches):
                organisation_id = watch.organisation_id
                if organisation_id is None:
                    continue  # its own lookup, still to come, checks it
                if not await _check_membership(watch.user_id, organisation_id):
                    watch.tell(organisation_id)


_watches: dict[asyncio.AbstractEventLoop, MembershipWatches] = {}


def membership_watches() -> MembershipWatches | None:
    """This event loop's watches (daphne runs one loop per process); None without a layer."""
    loop = asyncio.get_running_loop()
    found = _watches.get(loop)
    if found is None:
        if get_channel_layer() is None:
            return None
        # A channel-layer instance of its own: its one reader never queues behind the
        # feeds' readers for channels-redis's receive lock, and a loop that ends (tests run
        # one per test) leaves none of its receive state in the process-wide instance.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        found = _watches[loop] = MembershipWatches(layer)
    return found


async def watch_membership(user_id: int) -> Watch | None:
    """Start watching before the lookup that checks the membership; None without a layer
    (some tests), when nobody is ever told. Pair with ``stop_watching``."""
    watches = membership_watches()
    return None if watches is None else await watches.watch(user_id)


def stop_watching(watch: Watch | None) -> None:
    watches = membership_watches()
    if watch is not None and watches is not None:
        watches.release(watch)


async def until_told(watch: Watch | None) -> None:
    """Returns once the watch's person left its organisation (never without a watch)."""
    if watch is None:
        await asyncio.Event().wait()
        return
    await watch.removed.wait()


async def until_removed(user_id: int, organisation_id: int) -> None:
    """Returns once the person is no longer a member of the organisation (checked now,
    then told): for a caller whose lookup came before its watch."""
    watch = await watch_membership(user_id)
    try:
        if watch is not None:
            watch.bind(organisation_id)
        if await _check_membership(user_id, organisation_id):
            await until_told(watch)
    finally:
        stop_watching(watch)
