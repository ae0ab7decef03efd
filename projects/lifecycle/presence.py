"""Who is watching a project right now: open viewer connections, recorded in Redis.

Idle sleep must not take a Sprite away from a person who watches it (the workspace's
websocket, a program following ``GET /projects/{id}/events``). Each open connection holds an
entry in the project's sorted set, scored with the time it expires; the connection refreshes
it while it stays open and removes it when it closes. A web process that dies without
closing its sockets leaves entries that simply expire, so a dead viewer never keeps a
project awake for more than ``PRESENCE_TTL_SECONDS``.

Writers are async (consumers, streaming responses); the reader (beat's idle check) is sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

import redis
import redis.asyncio as aioredis
from django.conf import settings

from starter.redis import redis_client

logger = logging.getLogger(__name__)

# An entry outlives its last refresh by this much; refreshed three times as often, so one
# late refresh (a busy event loop, a Redis blip) does not make a viewer look gone.
PRESENCE_TTL_SECONDS = 60.0
REFRESH_SECONDS = PRESENCE_TTL_SECONDS / 3


_clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}


def _async_client() -> aioredis.Redis:
    """One async client per event loop (daphne runs one loop per process)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(
            settings.REDIS_URL, **settings.REDIS_CONNECTION_OPTIONS
        )
    return client


def _key(public_id: str) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:presence:{public_id}"


async def _refresh(client: aioredis.Redis, key: str, member: str) -> None:
    now = time.time()
    async with client.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {member: now + PRESENCE_TTL_SECONDS})
        pipe.zremrangebyscore(key, "-inf", now)
        # The whole set goes once its newest entry would have expired.
        pipe.expire(key, int(PRESENCE_TTL_SECONDS) + 1)
        await pipe.execute()


async def _keep_fresh(client: aioredis.Redis, key: str, member: str) -> None:
    while True:
        await asyncio.sleep(REFRESH_SECONDS)
        try:
            await _refresh(client, key, member)
        except (redis.RedisError, OSError) as error:
            # Losing presence only means idle sleep may come sooner; never end the socket.
            logger.info("presence refresh for %s failed: %s", key, error)


@contextlib.asynccontextmanager
async def viewer_present(public_id: str) -> AsyncIterator[None]:
    """Hold one viewer's presence on ``public_id`` for the body's duration.

    Owns its refresh task: cancelled and awaited on exit, then the entry is removed.
    """
    client = _async_client()
    key = _key(public_id)
    member = uuid.uuid4().hex
    try:
        await _refresh(client, key, member)
    except (redis.RedisError, OSError) as error:
        logger.info("presence for %s not recorded: %s", public_id, error)
    refresher = asyncio.create_task(_keep_fresh(client, key, member), name=f"presence-{public_id}")
    try:
        yield
    finally:
        refresher.cancel()
        with contextlib.suppress(BaseException):
            await refresher
        with contextlib.suppress(redis.RedisError, OSError):
            await client.zrem(key, member)


def has_viewers(public_id: str) -> bool:
    """Whether a live viewer entry exists. A Redis that cannot be read counts as no viewer:
    an unreachable Redis must not keep every project awake."""
    try:
        return bool(redis_client().zcount(_key(public_id), time.time(), "+inf"))
    except redis.RedisError as error:
        logger.warning("presence of %s unreadable: %s", public_id, error)
        return False
