"""A per-project Redis lock held while a worker moves the project through a step.

It lets the watchdog (``projects.tasks.resume_interrupted_work``) tell a project that is
being worked on from one whose worker died, without any timing guesswork in the tasks:
the lock is a short lease (``STARTER_WORK_LOCK_SECONDS``, 5 s by default) that a thread
of the holder renews several times per lease for as long as the block runs. A holder
that is SIGKILLed stops renewing, so its lease runs out within seconds and another
worker can take the work over; a holder that is merely slow keeps its lease.

Two keys per project, both under ``STARTER_REDIS_PREFIX``:

* ``project-work:<id>``: the lease; its value is the holder's random owner id, so only
  the holder renews or releases it.
* ``project-resume:<id>``: "a resumed step was enqueued a moment ago" (see
  ``claim_resume``), cleared when a worker takes the lease.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from starter.redis import redis_client

logger = logging.getLogger(__name__)

_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

_RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

# Renewals per lease: a holder survives two failed renewals in a row (a Redis hiccup)
# before its lease runs out.
RENEWALS_PER_LEASE = 3
# How long a resumed step may sit in the queue before the watchdog sends it again.
RESUME_CLAIM_SECONDS = 30


def lock_ttl() -> float:
    """Seconds a dead holder's lease outlives it (STARTER_WORK_LOCK_SECONDS)."""
    return float(settings.STARTER_WORK_LOCK_SECONDS)


def lock_key(project_id: int) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:project-work:{project_id}"


def resume_key(project_id: int) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:project-resume:{project_id}"


class ProjectBusy(Exception):
    """Another worker holds the project's lock."""


class WorkLock:
    """One holder's lease on a project. ``lost`` turns true if a renewal found the lease
    gone or owned by someone else (the holder was stalled for longer than a lease)."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.key = lock_key(project_id)
        self.owner = uuid.uuid4().hex
        self.lost = False

    def acquire(self) -> bool:
        return bool(redis_client().set(self.key, self.owner, nx=True, px=_lease_ms()))

    def renew(self) -> bool:
        """Extend the lease by a full lease from now; False (and ``lost``) if it is no
        longer ours. Never takes over a lease that expired and went to another holder."""
        renewed = bool(redis_client().eval(_RENEW_IF_OWNER, 1, self.key, self.owner, _lease_ms()))
        if not renewed and not self.lost:
            self.lost = True
            logger.error(
                "work lock of project %s was lost (its lease ran out before a renewal)",
                self.project_id,
            )
        return renewed

    def release(self) -> None:
        redis_client().eval(_RELEASE_IF_OWNER, 1, self.key, self.owner)


def _lease_ms() -> int:
    return max(1, int(lock_ttl() * 1000))


class LeaseRenewer:
    """A thread that renews ``lock`` every lease / RENEWALS_PER_LEASE until stopped.

    Owned by ``project_work_lock``, which starts it after acquiring and stops and joins
    it before releasing. A Redis error is logged and retried at the next tick; a lost
    lease ends the thread (renewing cannot bring it back). Anything else ends it with an
    ERROR line naming it.
    """

    def __init__(self, lock: WorkLock) -> None:
        self.lock = lock
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"work-lock-renewer-{lock.project_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = lock_ttl() / RENEWALS_PER_LEASE
        try:
            while not self._stop.wait(interval):
                try:
                    if not self.lock.renew():
                        return
                except redis.RedisError as error:
                    logger.warning(
                        "work lock of project %s: renewal failed (%s); trying again",
                        self.lock.project_id,
                        error,
                    )
        except Exception:
            logger.exception("%s died; the lease will run out", self._thread.name)


@contextmanager
def project_work_lock(project_id: int, wait_seconds: float = 0.0) -> Iterator[WorkLock]:
    """Hold the project's lease for the block; raise ProjectBusy if another holder keeps it.

    The lease is renewed in the background while the block runs, however long it takes.
    `wait_seconds` lets a person's request (a checkpoint, say) wait out a step that is just
    finishing instead of failing at once; tasks do not wait, they are retried.
    """
    lock = WorkLock(project_id)
    deadline = time.monotonic() + wait_seconds
    while not lock.acquire():
        if time.monotonic() >= deadline:
            raise ProjectBusy(project_id)
        time.sleep(0.2)
    # The resumed step (if this is one) has started: a later death may be resumed at once.
    redis_client().delete(resume_key(project_id))
    renewer = LeaseRenewer(lock)
    renewer.start()
    try:
        yield lock
    finally:
        renewer.stop()
        lock.release()


def is_locked(project_id: int) -> bool:
    return bool(redis_client().exists(lock_key(project_id)))


def claim_resume(project_id: int) -> bool:
    """Claim the right to enqueue a resumed step for the project: True for one caller
    per RESUME_CLAIM_SECONDS (or until a worker takes the lease), so a watchdog that runs
    every few seconds does not pile copies of a step up behind a busy queue."""
    return bool(redis_client().set(resume_key(project_id), "1", nx=True, ex=RESUME_CLAIM_SECONDS))
