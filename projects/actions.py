"""What people ask of their projects: create, rename and destroy one, and the lifecycle
buttons (wake, sleep, re-bootstrap, retry). Pages, the REST API, the admin and the general
agent all call these.

Each lifecycle action is a conditional status change plus a task enqueued on commit, so
pressing a button twice, or from two places at once, starts the work once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from celery import Task
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import receiver

from accounts.models import User
from gateway import tokens as gateway_tokens
from organisations import audit
from organisations.access import require, role_of
from organisations.models import AuditAction, Organisation
from organisations.personal import personal_organisation_of
from organisations.roles import Ability
from organisations.signals import organisation_secrets_changed
from projects import tasks
from projects.errors import ProjectError
from projects.lifecycle.status import transition
from projects.models import Project, Status, validate_project_name

MAX_PROJECTS_PER_USER = 50
# A sleeping project's preview asks for a wake at most this often, however many requests
# (and "Waking…" page reloads) arrive meanwhile; a wake takes seconds, not minutes.
WAKE_ON_VISIT_INTERVAL = 60

DONE_MESSAGES = {
    "wake": "Waking the Sprite…",
    "sleep": "Putting the Sprite to sleep…",
    "rebootstrap": "Re-installing the bridge…",
    "retry": "Retrying…",
    "destroy": "Destroying the project…",
}


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ProjectError("Give the project a name.")
    if len(name) > 100:
        raise ProjectError("A project name has at most 100 characters.")
    try:
        validate_project_name(name)
    except ValidationError as error:
        raise ProjectError(error.messages[0]) from error
    return name


def clean_description(description: str) -> str:
    description = description.strip()
    if len(description) > 2000:
        raise ProjectError("A description has at most 2000 characters.")
    return description


def create_project(
    owner: User, name: str, description: str = "", organisation: Organisation | None = None
) -> Project:
    """Create a project in `organisation` (default: the creator's personal one; the creator
    needs a role that may use projects there) and start provisioning its Sprite once the row
    is committed."""
    name = clean_name(name)
    description = clean_description(description)
    if organisation is None:
        organisation = personal_organisation_of(owner)
    require(role_of(owner, organisation.pk), Ability.USE, organisation.name)
    # The quota is the organisation's: members share its projects (and its Sprites).
    if (
        Project.objects.in_organisation(organisation.pk).visible().listed().count()
        >= MAX_PROJECTS_PER_USER
    ):
        raise ProjectError(
            f"An organisation can have at most {MAX_PROJECTS_PER_USER} projects.", "limit"
        )
    with transaction.atomic():
        project = Project.objects.create(
            owner=owner, organisation=organisation, name=name, description=description
        )
        audit.record(organisation.pk, owner, AuditAction.PROJECT_CREATED, name)
        tasks.provision_project.delay_on_commit(project.pk)
    return project


def rename_project(project: Project, name: str, description: str | None = None) -> Project:
    project.name = clean_name(name)
    fields = ["name", "updated_at"]
    if description is not None:
        project.description = clean_description(description)
        fields.append("description")
    project.save(update_fields=fields)
    return project


def destroy_project(
    project: Project, task_id: str | None = None, actor: object | None = None
) -> bool:
    """Mark the project for destruction and destroy its Sprite in the background.

    Returns False when it was already being destroyed (calling twice is harmless).
    `task_id` names the Celery task, for callers that report it (the REST API).
    """
    with transaction.atomic():
        moved = transition(project, Status.DESTROYING, message="")
        if moved:
            audit.record(project.organisation_id, actor, AuditAction.PROJECT_DELETED, project.name)
            tasks.destroy_project_sprite.apply_async_on_commit((project.pk,), task_id=task_id)
    return moved


def _enqueue_on_commit(task: Task, project: Project) -> str:
    """Send `task` once the transaction commits; its id is known now, for API callers."""
    task_id = str(uuid.uuid4())
    task.apply_async_on_commit((project.pk,), task_id=task_id)
    return task_id


def wake(project: Project) -> str:
    if project.status != Status.SLEEPING:
        raise ProjectError("Only a sleeping project can be woken.", "conflict")
    return _enqueue_on_commit(tasks.wake_project, project)


def wake_on_visit(project: Project) -> bool:
    """Someone opened a sleeping project's preview: enqueue a wake, once per
    ``WAKE_ON_VISIT_INTERVAL`` (an atomic Redis ``add``), without waiting for it. True when
    this call enqueued it; a project that is not sleeping is left alone."""
    if project.status != Status.SLEEPING:
        return False
    if not cache.add(f"projects:wake-on-visit:{project.pk}", 1, timeout=WAKE_ON_VISIT_INTERVAL):
        return False
    with transaction.atomic():
        wake(project)
    return True


def sleep(project: Project) -> str:
    if project.status != Status.RUNNING:
        raise ProjectError("Only a running project can be put to sleep.", "conflict")
    return _enqueue_on_commit(tasks.sleep_project, project)


def rebootstrap(project: Project) -> str:
    if not transition(
        project, Status.BOOTSTRAPPING, only_from={Status.RUNNING, Status.SLEEPING, Status.ERROR}
    ):
        raise ProjectError(
            "The project is busy; wait until it is running, sleeping or failed.", "conflict"
        )
    return _enqueue_on_commit(tasks.rebootstrap_project, project)


def retry(project: Project) -> str:
    """From `error`: start again from where the Sprite got to."""
    if project.status != Status.ERROR:
        raise ProjectError("Only a failed project can be retried.", "conflict")
    target = Status.BOOTSTRAPPING if project.sprite_name else Status.CREATING
    if not transition(project, target, only_from={Status.ERROR}):
        raise ProjectError("The project changed meanwhile; reload and try again.", "conflict")
    return _enqueue_on_commit(tasks.provision_project, project)


def destroy(project: Project, actor: object | None = None) -> str:
    task_id = str(uuid.uuid4())
    if not destroy_project(project, task_id=task_id, actor=actor):
        raise ProjectError("The project is already being destroyed.", "conflict")
    return task_id


ACTIONS: dict[str, Callable[[Project], str]] = {
    "wake": wake,
    "sleep": sleep,
    "rebootstrap": rebootstrap,
    "retry": retry,
    "destroy": destroy,
}


def perform(project: Project, action: str, actor: object | None = None) -> str:
    """Do `action` and return the id of the Celery task that carries it out (`actor`, who
    asked, goes into the audit log of a destruction)."""
    handler = ACTIONS.get(action)
    if handler is None:
        raise ProjectError(f"Unknown action {action!r}.", "not_found")
    with transaction.atomic():
        if action == "destroy":
            return destroy(project, actor)
        return handler(project)


def provision_on_commit(project: Project) -> None:
    """Create and bootstrap a new project's Sprite once the transaction commits."""
    tasks.provision_project.delay_on_commit(project.pk)


def sync_environment_on_commit(project: Project) -> None:
    """Hand the project's bridge its fresh environment once the transaction commits (no
    restart: see ``lifecycle.steps.sync_environment``)."""
    tasks.sync_project_environment.delay_on_commit(project.pk)


@transaction.atomic
def rotate_gateway_token(project: Project) -> None:
    """Cut the project's Sprite off now and give it a fresh gateway token.

    The old token is refused from its next call on; the new one reaches the running bridge
    with the environment sync queued here (a sleeping Sprite gets it when it wakes: every
    bridge start reads it afresh). Nothing is restarted; a call in flight ends."""
    gateway_tokens.revoke(project)
    gateway_tokens.token_for(project)
    sync_environment_on_commit(project)


@receiver(organisation_secrets_changed)
def resync_organisation_sprites(sender: object, organisation_id: int, **kwargs: object) -> None:
    """An organisation's key, custom provider or Sprites token changed: its live Sprites
    (every project of the organisation) get pi's models.json rewritten and
    their environment re-applied (the providers' fingerprint in it; never a key, which the
    gateway adds to each call). Nothing is restarted for it, so a run is not disturbed.

    Connected when the app is ready (``ProjectsConfig.ready`` imports this module)."""
    live = Project.objects.filter(
        organisation_id=organisation_id, status__in=[Status.RUNNING, Status.SLEEPING]
    )
    for project_id in live.values_list("pk", flat=True):
        tasks.sync_project_environment.delay(project_id)
