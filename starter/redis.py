"""The process's synchronous Redis client (work locks, rate limits, tests' probes).

One client per process, built from ``REDIS_URL``; keys carry ``STARTER_REDIS_PREFIX`` at
their call sites. Async code (the relay) keeps its own ``redis.asyncio`` client per loop.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
