"""Moving a project's Sprite through its life: provision, wake, sleep, destroy, checkpoints.

Each function takes a project id, re-reads the row, does nothing when the status says the
work is done or not wanted any more (so a task delivered twice is harmless), holds the
project's work lock while it talks to the backend, and leaves the project either in the
next status or in `error` with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from projects.bridge import probe
from projects.broadcast import broadcast_lifecycle
from projects.lifecycle import idle
from projects.lifecycle.status import transition
from projects.lifecycle.work_lock import WorkLock, project_work_lock
from projects.models import Project, Status
from projects.sprite import services as sprite_services
from projects.sprite.backend import backend_for, sprite_name_for
from projects.sprite.environment import (
    ensure_bridge_token,
    pi_models_json,
    pi_settings_document,
    sprite_environment,
)
from sprites.backends import SpriteError, run_sync

logger = logging.getLogger(__name__)

PI_SETTINGS_PATH = ".pi/agent/settings.json"
PI_MODELS_PATH = ".pi/agent/models.json"


def _load(project_id: int) -> Project | None:
    return Project.objects.select_related("owner").filter(pk=project_id).first()


def _progress_reporter(project: Project, lock: WorkLock) -> Callable[[str, int, int], None]:
    def report(step: str, done: int, total: int) -> None:
        lock.renew()
        Project.objects.filter(pk=project.pk).update(
            progress_step=step[:100],
            progress_done=done,
            progress_total=total,
            updated_at=timezone.now(),
        )
        project.refresh_from_db()
        broadcast_lifecycle(project)

    return report


def fail(project: Project, message: str) -> None:
    """Leave the project in `error` with a message, unless it is being destroyed."""
    if transition(project, Status.ERROR, message=message):
        logger.warning("project %s failed: %s", project.public_id, message)
    broadcast_lifecycle(project)


def provision(project_id: int) -> Project | None:
    """creating → bootstrapping → running. Safe to call again after a crash at any point."""
    project = _load(project_id)
    if project is None or project.status not in {Status.CREATING, Status.BOOTSTRAPPING}:
        return project
    with project_work_lock(project.pk) as lock:
        report = _progress_reporter(project, lock)
        backend = backend_for(project)
        if project.status == Status.CREATING:
            report("Creating the Sprite", 1, 4)
            name = project.sprite_name or sprite_name_for(project)
            run_sync(backend.create(name))
            Project.objects.filter(pk=project.pk).update(sprite_name=name)
            project.refresh_from_db()
            if not transition(project, Status.BOOTSTRAPPING, only_from={Status.CREATING}):
                return project
        _bootstrap(project, report)
        if transition(project, Status.RUNNING, only_from={Status.BOOTSTRAPPING}):
            Project.objects.filter(pk=project.pk).update(last_activity_at=timezone.now())
        # A re-bootstrap keeps the home, and with it the agent's services.
        sprite_services.reconcile_now_or_later(project)
        broadcast_lifecycle(project)
    return project


def _bootstrap(project: Project, report: Callable[[str, int, int], None]) -> None:
    backend = backend_for(project)
    token = ensure_bridge_token(project)
    report("Writing the agent's settings", 2, 4)
    write_agent_configuration(project)

    async def backend_progress(step: str, done: int, total: int) -> None:
        # Called inside the backend's event loop, where the ORM and async_to_sync (the
        # broadcast) refuse to run: report from a thread.
        await asyncio.to_thread(report, step, 2 + done, 2 + total)

    report("Installing and starting the bridge", 3, 4)
    run_sync(
        backend.bootstrap(project.sprite_name, token, sprite_environment(project), backend_progress)
    )
    endpoint = run_sync(backend.bridge_endpoint(project.sprite_name, token))
    Project.objects.filter(pk=project.pk).update(sprite_url=endpoint.base_url)
    project.refresh_from_db()


def write_agent_configuration(project: Project) -> None:
    """pi's settings.json and models.json in the Sprite's home: no secret in either."""
    backend = backend_for(project)
    run_sync(
        backend.write_file(project.sprite_name, PI_SETTINGS_PATH, pi_settings_document(project))
    )
    run_sync(backend.write_file(project.sprite_name, PI_MODELS_PATH, pi_models_json(project)))


def rebootstrap(project_id: int) -> Project | None:
    project = _load(project_id)
    if project is None or project.status != Status.BOOTSTRAPPING:
        return project
    if not project.sprite_name:  # it never got a Sprite: start over
        transition(project, Status.ERROR, message="")
        transition(project, Status.CREATING)
        return provision(project_id)
    return provision(project_id)


def wake(project_id: int) -> Project | None:
    project = _load(project_id)
    if project is None or project.status != Status.SLEEPING:
        return project
    with project_work_lock(project.pk) as lock:
        _progress_reporter(project, lock)("Waking the Sprite", 1, 1)
        backend = backend_for(project)
        run_sync(backend.wake(project.sprite_name))
        # A Sprite made before an upgrade (pi 1.6 reads `$NAME` keys, cache warming off)
        # gets today's documents; pi reads them when its next process starts.
        write_agent_configuration(project)
        # Sleep stopped the agent's Sprite services (fly): start those it wants running,
        # before the step ends, so the visit that woke the project finds its app.
        sprite_services.reconcile_now_or_later(project)
        if transition(project, Status.RUNNING, only_from={Status.SLEEPING}):
            Project.objects.filter(pk=project.pk).update(
                last_activity_at=timezone.now(), next_job_at=None
            )
        broadcast_lifecycle(project)
    return project


def sleep(project_id: int) -> Project | None:
    """running → sleeping, whatever the project is doing (a person asked)."""
    project = _load(project_id)
    if project is None or project.status != Status.RUNNING:
        return project
    with project_work_lock(project.pk):
        _put_to_sleep(project, probe.next_job_at(project))
    return project


def sleep_if_idle(project_id: int) -> Project | None:
    """running → sleeping for beat, unless the project is in use (``lifecycle.idle``).

    Everything is asked under the work lock, the bridge first and the database last, right
    before the Sprite stops: a prompt touches ``last_activity_at`` before it reaches the
    bridge, so one that the bridge did not know of yet is seen in the database. What is
    left is a prompt that arrives between that last read and the bridge stopping.
    """
    project = _load(project_id)
    if project is None or project.status != Status.RUNNING:
        return project
    if not idle.untouched_for_idle_period(project):
        return project
    with project_work_lock(project.pk):
        project.refresh_from_db()
        if project.status != Status.RUNNING:
            return project
        if idle.viewers_present(project):
            _count_as_used(project)
            return project
        if idle.busy_counts_as_use(project, probe.agent_activity(project)):
            _count_as_used(project)
            return project
        next_job_at = probe.next_job_at(project)
        # Last, right before the Sprite stops: a request that came meanwhile wins.
        if not idle.untouched_for_idle_period(project):
            return project
        _put_to_sleep(project, next_job_at)
    return project


def _count_as_used(project: Project) -> None:
    # As a request would: the next look is one idle period from now.
    Project.objects.filter(pk=project.pk).update(last_activity_at=timezone.now())


def _put_to_sleep(project: Project, next_job_at: datetime | None) -> None:
    """Under the work lock: remember when the first cron job is due (beat wakes the project
    then), stop the Sprite, move to sleeping."""
    Project.objects.filter(pk=project.pk).update(next_job_at=next_job_at)
    run_sync(backend_for(project).sleep(project.sprite_name))
    sprite_services.forget_reconciled(project)
    transition(project, Status.SLEEPING, only_from={Status.RUNNING})
    broadcast_lifecycle(project)


def destroy(project_id: int) -> Project | None:
    project = _load(project_id)
    if project is None or project.status != Status.DESTROYING:
        return project
    with project_work_lock(project.pk):
        if project.sprite_name:
            run_sync(backend_for(project).destroy(project.sprite_name))
        project.secrets.all().delete()
        # The row stays (destroyed), so its gateway tokens would too: none is left to use.
        project.gateway_tokens.all().delete()
        Project.objects.filter(pk=project.pk).update(bridge_token="")
        transition(project, Status.DESTROYED, only_from={Status.DESTROYING})
        broadcast_lifecycle(project)
    return project


def sync_environment(project_id: int) -> Project | None:
    """Re-apply secrets, the gateway token, custom providers and model defaults without
    interrupting anything: the running bridge gets the new set (new commands have it at
    once, pi when its current run ends), a sleeping Sprite when it wakes."""
    project = _load(project_id)
    if project is None or project.status not in {Status.RUNNING, Status.SLEEPING}:
        return project
    if not project.sprite_name:
        return project
    with project_work_lock(project.pk):
        # Custom providers and defaults may have changed too: pi's documents first, so the
        # pi processes the bridge restarts read them (a sleeping Sprite's when it wakes).
        if project.status == Status.RUNNING:
            write_agent_configuration(project)
        update = run_sync(
            backend_for(project).set_environment(
                project.sprite_name, ensure_bridge_token(project), sprite_environment(project)
            )
        )
        logger.info(
            "project %s: new values of %s apply %s (sessions still busy: %s)",
            project.public_id,
            ", ".join(update.names) or "nothing",
            update.applied,
            len(update.pending_sessions),
        )
        # Fly: new values change every Sprite service's definition, so the agent's services
        # restart with them (a sleeping project's at its wake).
        if project.status == Status.RUNNING:
            sprite_services.reconcile_now_or_later(project, redefine=True)
    return project


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, SpriteError) and error.retryable


def describe(error: BaseException) -> str:
    if isinstance(error, SpriteError):
        return str(error)
    return "An unexpected error stopped this step. Retry, or contact the operator if it persists."
