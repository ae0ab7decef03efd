"""A per-project Redis lock held while a worker moves the project through a step.

It lets the watchdog tell a project that is being worked on from one whose worker died
(the lock expires because nobody renews it), without any timing guesswork in the tasks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from starter.redis import redis_client

_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


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
def project_work_lock(project_id: int, wait_seconds: float = 0.0) -> Iterator[WorkLock]:
    """Hold the project's lock for the block; raise ProjectBusy if another worker keeps it.

    `wait_seconds` lets a person's request (a checkpoint, say) wait out a step that is just
    finishing instead of failing at once; tasks do not wait, they are retried.
    """
    lock = WorkLock(project_id)
    deadline = time.monotonic() + wait_seconds
    while not redis_client().set(lock.key, lock.owner, nx=True, ex=lock_ttl()):
        if time.monotonic() >= deadline:
            raise ProjectBusy(project_id)
        time.sleep(0.2)
    try:
        yield lock
    finally:
        redis_client().eval(_RELEASE_IF_OWNER, 1, lock.key, lock.owner)


def is_locked(project_id: int) -> bool:
    return bool(redis_client().exists(lock_key(project_id)))
