"""A per-project Redis lock held while a worker moves the project through a step.

It lets the watchdog tell a project that is being worked on from one whose worker died
(the lock expires because nobody renews it), without any timing guesswork in the tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from django.conf import settings

_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def lock_ttl() -> int:
    """Seconds a dead worker's lock outlives it (STARTER_WORK_LOCK_SECONDS)."""
    return int(settings.STARTER_WORK_LOCK_SECONDS)


def lock_key(project_id: int) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:project-work:{project_id}"


class ProjectBusy(Exception):
    """Another worker holds the project's lock."""


class WorkLock:
    def __init__(self, project_id: int) -> None:
        self.key = lock_key(project_id)
        self.owner = uuid.uuid4().hex

    def renew(self) -> None:
        redis_client().set(self.key, self.owner, ex=lock_ttl(), xx=True)


@contextmanager
def project_work_lock(project_id: int) -> Iterator[WorkLock]:
    lock = WorkLock(project_id)
    if not redis_client().set(lock.key, lock.owner, nx=True, ex=lock_ttl()):
        raise ProjectBusy(project_id)
    try:
        yield lock
    finally:
        redis_client().eval(_RELEASE_IF_OWNER, 1, lock.key, lock.owner)


def is_locked(project_id: int) -> bool:
    return bool(redis_client().exists(lock_key(project_id)))
