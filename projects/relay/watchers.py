"""Who is watching a project right now (the workspace top bar's "also here").

Each open project socket holds an entry in the project's Redis sorted set (its person's
e-mail address and a socket id), scored with the time it expires; the socket refreshes it
while it stays open and removes it when it closes. Every change is sent to the project's
channel group as ``presence.update`` and reaches each viewer as
``{"kind": "presence", "watchers": [...]}`` (e-mail addresses, sorted).

A web process that dies (a crash, a deploy) closes no socket: its entries expire within
``WATCHERS_TTL_SECONDS``, and the next refresh of any socket still open drops them and
tells the viewers, so nobody shows as watching for long after they left. (A per-person
count that only expired with the whole key kept them for hours.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal, TypedDict

from bridge_agent.concurrency import wait_or_timeout
from projects.broadcast import project_group
from projects.relay.wire import _key

logger = logging.getLogger(__name__)

# An entry outlives its last refresh by this much; refreshed three times as often, so one
# late refresh (a busy event loop, a Redis blip) does not make a watcher look gone.
WATCHERS_TTL_SECONDS = 60.0
REFRESH_SECONDS = WATCHERS_TTL_SECONDS / 3


class PresenceUpdate(TypedDict):
    type: Literal["presence.update"]
    watchers: list[str]


def watchers_key(public_id: str) -> str:
    return _key("watchers", public_id)


def presence_frame(watchers: list[str]) -> str:
    return json.dumps({"kind": "presence", "watchers": watchers}, separators=(",", ":"))


def _email_of(member: bytes | str) -> str:
    text = member.decode() if isinstance(member, bytes) else str(member)
    return text.rpartition("\n")[0]


async def current_watchers(redis: Any, public_id: str) -> list[str]:
    members = await redis.zrangebyscore(watchers_key(public_id), time.time(), "+inf")
    return sorted({email for email in map(_email_of, members) if email})


async def _hold(redis: Any, public_id: str, member: str) -> int:
    """Put (or keep) the entry; drop the expired ones. Returns how many were dropped."""
    key = watchers_key(public_id)
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {member: now + WATCHERS_TTL_SECONDS})
        pipe.zremrangebyscore(key, "-inf", now)
        # The whole set goes once its newest entry would have expired.
        pipe.expire(key, int(WATCHERS_TTL_SECONDS) + 1)
        _, dropped, _ = await pipe.execute()
    return int(dropped)


async def _tell(redis: Any, layer: Any, public_id: str) -> list[str]:
    watchers = await current_watchers(redis, public_id)
    message: PresenceUpdate = {"type": "presence.update", "watchers": watchers}
    if layer is not None:
        with contextlib.suppress(Exception):  # presence is a nicety: never fail a socket
            await layer.group_send(project_group(public_id), message)
    return watchers


async def _keep_fresh(
    redis: Any, layer: Any, public_id: str, member: str, stop: asyncio.Event
) -> None:
    while True:
        if await wait_or_timeout(stop, REFRESH_SECONDS):
            return
        try:
            if await _hold(redis, public_id, member):
                await _tell(redis, layer, public_id)  # someone's process died
        except Exception as error:  # Redis away: the entry may lapse, the socket goes on
            logger.info("watcher refresh for %s failed (%s)", public_id, type(error).__name__)


@contextlib.asynccontextmanager
async def watching(redis: Any, layer: Any, public_id: str, email: str) -> AsyncIterator[list[str]]:
    """Count one socket of ``email`` among the project's watchers for the body's duration;
    yields the watchers as they are now (empty if Redis could not be reached). The viewers
    are told on the way in and out."""
    member = f"{email}\n{uuid.uuid4().hex}"
    watchers: list[str] = []
    try:
        await _hold(redis, public_id, member)
        watchers = await _tell(redis, layer, public_id)
    except Exception as error:  # Redis away: presence is a nicety, the socket goes on
        logger.info("presence of %s not counted (%s)", public_id, type(error).__name__)
    stop = asyncio.Event()
    refresher = asyncio.create_task(
        _keep_fresh(redis, layer, public_id, member, stop), name=f"watchers-{public_id}"
    )
    try:
        yield watchers
    finally:
        # Told to stop, not cancelled: a cancel in the middle of a Redis command leaves the
        # hub's pooled connection with an unread answer (the relay's next command on it
        # hung). A refresh under way gets a few seconds to finish.
        stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(refresher, 5)
        try:
            await redis.zrem(watchers_key(public_id), member)
            await _tell(redis, layer, public_id)
        except Exception as error:
            logger.info("presence of %s not uncounted (%s)", public_id, type(error).__name__)
