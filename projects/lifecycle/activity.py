"""A person's request needs the project's Sprite: wake it if it sleeps, and count the use.

This is the one place where a request (not a Celery task) moves a Sprite along its life:
"any request that needs a sleeping Sprite wakes it", inline, under the project's work lock.
``touch`` records activity, so beat's idle sleep does not take away a Sprite in use.
"""

from __future__ import annotations

from django.utils import timezone

from projects.errors import BridgeError, from_sprite_error
from projects.lifecycle import steps
from projects.lifecycle.work_lock import ProjectBusy
from projects.models import Project, Status
from sprites.backends import SpriteError


def ensure_running(project: Project) -> None:
    """Wake a sleeping Sprite inline (a request needs it); refuse any other non-running state."""
    if project.status == Status.SLEEPING:
        try:
            steps.wake(project.pk)
        except ProjectBusy:
            raise BridgeError(
                409, "busy", "The project is waking up; try again in a moment."
            ) from None
        except SpriteError as error:
            raise BridgeError.wrapping(from_sprite_error(error)) from error
        project.refresh_from_db()
    if project.status != Status.RUNNING:
        raise BridgeError(
            409,
            "not_running",
            f"The project is {project.get_status_display().lower()}; "
            "its agent can be reached once it is running.",
        )


def touch(project: Project) -> None:
    """Record that the project was used just now (idle sleep counts from here)."""
    Project.objects.filter(pk=project.pk).update(last_activity_at=timezone.now())


def touch_project_id(project_id: int) -> None:
    """``touch`` for callers that keep only the id (the preview proxy, which throttles)."""
    Project.objects.filter(pk=project_id).update(last_activity_at=timezone.now())
