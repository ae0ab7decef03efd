"""Per-token rate limits for the expensive API operations (the agent, commands), in Redis.

A fixed window per (bucket, caller): one atomic ``INCR`` plus an expiry on the first hit,
so every web process shares the count and nothing needs cleaning up. When the window is
full the caller is told how many seconds remain (the ``Retry-After`` of the 429).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from starter.redis import redis_client

WINDOW_SECONDS = 60
# Requests per window per token; settings may override them (STARTER_RATE_LIMITS).
DEFAULT_LIMITS: dict[str, int] = {"agent": 120, "exec": 60}

_COUNT = """
local count = redis.call('incr', KEYS[1])
if count == 1 then redis.call('expire', KEYS[1], ARGV[1]) end
return {count, redis.call('ttl', KEYS[1])}
"""


class RateLimited(Exception):
    def __init__(self, bucket: str, limit: int, retry_after: int) -> None:
        super().__init__(
            f"Too many {bucket} requests: at most {limit} a minute per token. "
            f"Try again in {retry_after} s."
        )
        self.message = str(self)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    bucket: str
    requests: int
    window: int = WINDOW_SECONDS


def limit_for(bucket: str) -> Limit:
    configured: dict[str, int] = getattr(settings, "STARTER_RATE_LIMITS", {})
    return Limit(bucket, int(configured.get(bucket, DEFAULT_LIMITS[bucket])))


def check_rate_limit(bucket: str, caller_key: str) -> None:
    """Count one request of `caller_key` in `bucket`; raise RateLimited past the limit."""
    limit = limit_for(bucket)
    # The window opens at the caller's first request and closes when the key expires.
    key = f"{settings.STARTER_REDIS_PREFIX}:rate:{bucket}:{caller_key}"
    count, ttl = redis_client().eval(_COUNT, 1, key, limit.window)
    if int(count) > limit.requests:
        raise RateLimited(bucket, limit.requests, max(1, int(ttl)))
