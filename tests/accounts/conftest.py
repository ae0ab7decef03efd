"""Login limits and allauth's rate limits live in Redis, outside the test transaction:
each test here starts and ends with none of this run's counters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings


def clear_login_counters() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.STARTER_REDIS_PREFIX
    # Never cache.clear(): on Redis that flushes the whole database, other runs' keys too.
    for pattern in (f"{prefix}:login-failures:*", f"{prefix}:*:allauth:rl:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


@pytest.fixture(autouse=True)
def _fresh_login_counters() -> Iterator[None]:
    clear_login_counters()
    yield
    clear_login_counters()
