"""Celery tasks for the Sprite lifecycle. Each takes an id and calls projects.lifecycle.steps.

Retries are declared here: a retryable backend error (rate limit, cold-wake timeout) is
tried again with exponential backoff; anything else, or running out of retries, leaves
the project in `error` with a message and a retry button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.utils import timezone

from projects.broadcast import broadcast_lifecycle
from projects.lifecycle import steps as lifecycle
from projects.lifecycle.work_lock import ProjectBusy, claim_resume, is_locked, lock_ttl
from projects.models import Project, Status
from projects.sprite.backend import local_backend
from sprites.backends import run_sync

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


def _run_step(task: Task, step: Callable[[int], object], project_id: int) -> None:
    try:
        step(project_id)
    except ProjectBusy:
        # Someone else is working on it right now; look again shortly.
        raise task.retry(countdown=5, max_retries=MAX_RETRIES * 4) from None
    except Exception as error:
        retries = task.request.retries or 0
        if lifecycle.is_retryable(error) and retries < MAX_RETRIES:
            countdown = min(2**retries * 2, 120)
            raise task.retry(exc=error, countdown=countdown, max_retries=MAX_RETRIES) from error
        logger.exception("lifecycle step %s failed for project %s", step.__name__, project_id)
        project = Project.objects.filter(pk=project_id).first()
        if project is not None:
            lifecycle.fail(project, lifecycle.describe(error))


@shared_task(bind=True, acks_late=True)
def provision_project(self: Task, project_id: int) -> None:
    _run_step(self, lifecycle.provision, project_id)


@shared_task(bind=True, acks_late=True)
def rebootstrap_project(self: Task, project_id: int) -> None:
    _run_step(self, lifecycle.rebootstrap, project_id)


@shared_task(bind=True, acks_late=True)
def wake_project(self: Task, project_id: int) -> None:
    _run_step(self, lifecycle.wake, project_id)


@shared_task(bind=True, acks_late=True)
def sleep_project(self: Task, project_id: int) -> None:
    _run_step(self, lifecycle.sleep, project_id)


@shared_task(bind=True, acks_late=True)
def destroy_project_sprite(self: Task, project_id: int) -> None:
    _run_step(self, lifecycle.destroy, project_id)


@shared_task(bind=True, acks_late=True)
def sync_project_environment(self: Task, project_id: int) -> None:
    _run_step(self, lifecycle.sync_environment, project_id)


@shared_task(bind=True, acks_late=True)
def sleep_idle_project(self: Task, project_id: int) -> None:
    _run_step(self, lifecycle.sleep_if_idle, project_id)


@shared_task
def sleep_idle_projects() -> int:
    """Beat: put Sprites nobody used for STARTER_IDLE_SLEEP_SECONDS to sleep, unless their
    agent is running or someone watches them (``sleep_if_idle`` asks)."""
    cutoff = timezone.now() - timedelta(seconds=settings.STARTER_IDLE_SLEEP_SECONDS)
    idle = Project.objects.filter(status=Status.RUNNING, last_activity_at__lt=cutoff)
    ids = list(idle.values_list("pk", flat=True))
    for project_id in ids:
        sleep_idle_project.delay(project_id)
    return len(ids)


@shared_task
def wake_projects_with_due_jobs() -> int:
    """Beat: wake sleeping projects whose first cron job is due (the bridge runs a missed
    job once when it starts again). Each due project is claimed by clearing its time, so
    two beats never wake it twice."""
    now = timezone.now()
    due = Project.objects.filter(status=Status.SLEEPING, next_job_at__lte=now)
    woken = 0
    for project_id in list(due.values_list("pk", flat=True)):
        claimed = Project.objects.filter(
            pk=project_id, status=Status.SLEEPING, next_job_at__lte=now
        ).update(next_job_at=None)
        if claimed:
            wake_project.delay(project_id)
            woken += 1
    return woken


@shared_task
def resume_interrupted_work() -> int:
    """Beat (every STARTER_RESUME_INTERVAL_SECONDS) and worker start: re-enqueue steps
    whose worker died mid-way.

    A project still in a working status whose work lease has run out has nobody working
    on it (a living holder renews its lease in the background), so its step is sent again;
    the steps are idempotent. `updated_at` older than one lease keeps a step that was just
    enqueued, and not yet started, from being sent twice; ``claim_resume`` keeps this
    watchdog from sending it again while the resumed step waits in the queue.
    """
    resumers = {
        Status.CREATING: provision_project,
        Status.BOOTSTRAPPING: provision_project,
        Status.DESTROYING: destroy_project_sprite,
    }
    stale_before = timezone.now() - timedelta(seconds=lock_ttl())
    resumed = 0
    for project in Project.objects.filter(status__in=list(resumers), updated_at__lt=stale_before):
        if not is_locked(project.pk) and claim_resume(project.pk):
            logger.warning(
                "resuming %s of project %s: its worker stopped", project.status, project.pk
            )
            resumers[Status(project.status)].delay(project.pk)
            resumed += 1
    return resumed


def _resume_on_worker_start(**kwargs: object) -> None:
    resume_interrupted_work.delay()


worker_ready.connect(_resume_on_worker_start)


@shared_task
def supervise_local_sprites() -> list[str]:
    """Beat: restart local Sprites whose bridge and its keeper died (a bridge alone that dies
    is restarted at once by its keeper, bridge_agent/keeper.py).

    Each restarted project's viewers are told (``lifecycle.update``, status running): that
    wakes the relay's upstream, which would otherwise reconnect on its next backoff tick.
    """
    backend = local_backend()
    if backend is None:
        return []
    restarted: list[str] = run_sync(backend.supervise())
    for project in Project.objects.filter(sprite_name__in=restarted, status=Status.RUNNING):
        broadcast_lifecycle(project)
    return restarted
