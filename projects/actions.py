"""Lifecycle actions a person or operator asks for (dashboard buttons, admin, API).

Each one is a conditional status change plus a task enqueued on commit, so pressing a
button twice, or from two places at once, starts the work once.
"""

from __future__ import annotations

from django.db import transaction

from projects import tasks
from projects.models import Project, Status
from projects.services import ProjectError, destroy_project
from projects.status import transition

DONE_MESSAGES = {
    "wake": "Waking the Sprite…",
    "sleep": "Putting the Sprite to sleep…",
    "rebootstrap": "Re-installing the bridge…",
    "retry": "Retrying…",
    "destroy": "Destroying the project…",
}


def wake(project: Project) -> None:
    if project.status != Status.SLEEPING:
        raise ProjectError("Only a sleeping project can be woken.", "conflict")
    transaction.on_commit(lambda: tasks.wake_project.delay(project.pk))


def sleep(project: Project) -> None:
    if project.status != Status.RUNNING:
        raise ProjectError("Only a running project can be put to sleep.", "conflict")
    transaction.on_commit(lambda: tasks.sleep_project.delay(project.pk))


def rebootstrap(project: Project) -> None:
    if not transition(
        project, Status.BOOTSTRAPPING, only_from={Status.RUNNING, Status.SLEEPING, Status.ERROR}
    ):
        raise ProjectError(
            "The project is busy; wait until it is running, sleeping or failed.", "conflict"
        )
    tasks.rebootstrap_project.delay_on_commit(project.pk)


def retry(project: Project) -> None:
    """From `error`: start again from where the Sprite got to."""
    if project.status != Status.ERROR:
        raise ProjectError("Only a failed project can be retried.", "conflict")
    target = Status.BOOTSTRAPPING if project.sprite_name else Status.CREATING
    if not transition(project, target, only_from={Status.ERROR}):
        raise ProjectError("The project changed meanwhile; reload and try again.", "conflict")
    tasks.provision_project.delay_on_commit(project.pk)


def destroy(project: Project) -> None:
    if not destroy_project(project):
        raise ProjectError("The project is already being destroyed.", "conflict")


ACTIONS = {
    "wake": wake,
    "sleep": sleep,
    "rebootstrap": rebootstrap,
    "retry": retry,
    "destroy": destroy,
}


def perform(project: Project, action: str) -> None:
    handler = ACTIONS.get(action)
    if handler is None:
        raise ProjectError(f"Unknown action {action!r}.", "not_found")
    with transaction.atomic():
        handler(project)
