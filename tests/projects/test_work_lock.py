"""The project work lock is a short lease: renewed while its holder lives, free soon after
the holder dies (real Redis, and a real process that is SIGKILLed while it holds one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from projects.lifecycle.work_lock import (
    ProjectBusy,
    WorkLock,
    claim_resume,
    is_locked,
    lock_key,
    project_work_lock,
    resume_key,
)
from starter.redis import redis_client

ROOT = Path(__file__).resolve().parents[2]
LEASE = 1  # seconds; every test here runs with this lease

# Holds the lock of the project given on the command line until killed.
HOLDER = """
import sys, time, django
django.setup()
from projects.lifecycle.work_lock import project_work_lock
with project_work_lock(int(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture(autouse=True)
def short_lease(settings: object) -> None:
    settings.STARTER_WORK_LOCK_SECONDS = LEASE  # type: ignore[attr-defined]


def _project_id() -> int:
    """An id no other test uses (the keys carry the run's prefix; this keeps tests apart)."""
    return 10_000_000 + int(time.monotonic_ns() % 1_000_000)


def _renewer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("work-lock-renewer-")]


def test_a_living_holder_keeps_its_lease_for_longer_than_many_leases() -> None:
    project_id = _project_id()
    with project_work_lock(project_id):
        deadline = time.monotonic() + 3.5 * LEASE
        while time.monotonic() < deadline:
            assert redis_client().pttl(lock_key(project_id)) > 0
            with pytest.raises(ProjectBusy):
                with project_work_lock(project_id):
                    pass
            time.sleep(0.1)
    assert not is_locked(project_id)
    assert _renewer_threads() == []  # stopped and joined at the block's end


def test_a_killed_holders_lease_is_free_again_within_one_lease() -> None:
    project_id = _project_id()
    environment = dict(os.environ, STARTER_WORK_LOCK_SECONDS=str(LEASE))
    environment.setdefault("DJANGO_SETTINGS_MODULE", "starter.settings")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(project_id)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        time.sleep(2.5 * LEASE)  # several leases: the holder's thread renews it
        assert is_locked(project_id)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        killed = time.monotonic()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    while True:
        try:
            with project_work_lock(project_id):
                break
        except ProjectBusy:
            assert time.monotonic() - killed < LEASE + 0.5, "the dead holder's lease lasted"
            time.sleep(0.02)


def test_a_renewal_never_takes_over_a_lease_that_went_to_another_holder() -> None:
    project_id = _project_id()
    stalled = WorkLock(project_id)
    assert stalled.acquire()
    redis_client().delete(lock_key(project_id))  # its lease ran out while it was stalled
    successor = WorkLock(project_id)
    assert successor.acquire()
    assert stalled.renew() is False
    assert stalled.lost
    assert redis_client().get(lock_key(project_id)) == successor.owner.encode()
    stalled.release()  # and releasing is only for the owner
    assert redis_client().get(lock_key(project_id)) == successor.owner.encode()
    successor.release()
    assert not is_locked(project_id)


def test_a_resume_is_claimed_once_until_a_worker_takes_the_lease() -> None:
    project_id = _project_id()
    try:
        assert claim_resume(project_id)
        assert not claim_resume(project_id)
        with project_work_lock(project_id):
            assert redis_client().exists(resume_key(project_id)) == 0
        assert claim_resume(project_id)
    finally:
        redis_client().delete(resume_key(project_id))
