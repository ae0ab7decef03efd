"""Checkpoints of a project's Sprite: snapshot the home, list, restore.

Called by the dashboard, the REST API and the admin alike. Restoring stops the bridge,
swaps the files and starts it again. pi's session files and the bridge's event log are not
taken back: the backend keeps them as they were just before (sprites/backends/
restore_keeping.py), marks the restore in each kept session, and the bridge tells viewers
with a `checkpoint_restored` event; event ids go on, so no reader's cursor goes stale.

A sleeping Sprite is woken first (`ensure_running`); its refusals (`not_running`, `busy`,
a Sprite that cannot be reached) reach the caller with the same codes as exec and the
agent's.
"""

from __future__ import annotations

from projects.bridge.probe import agent_activity
from projects.errors import ProjectError, from_sprite_error
from projects.lifecycle.activity import ensure_running
from projects.lifecycle.work_lock import ProjectBusy, project_work_lock
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import Checkpoint, SpriteError, run_sync

MAX_COMMENT = 200
# A person's checkpoint request waits this long for a lifecycle step that is finishing.
PERSON_WAIT_SECONDS = 15.0
EVENT_ID_MARGIN = 1000


def create_checkpoint(project: Project, comment: str = "") -> Checkpoint:
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise ProjectError(f"A checkpoint comment has at most {MAX_COMMENT} characters.")
    ensure_running(project)
    try:
        with project_work_lock(project.pk, wait_seconds=PERSON_WAIT_SECONDS):
            return run_sync(backend_for(project).create_checkpoint(project.sprite_name, comment))
    except ProjectBusy as error:
        raise ProjectError("The project is busy; try again in a moment.", "conflict") from error
    except SpriteError as error:
        raise from_sprite_error(error) from error


def list_checkpoints(project: Project) -> list[Checkpoint]:
    if not project.sprite_name:
        return []
    try:
        return run_sync(backend_for(project).list_checkpoints(project.sprite_name))
    except SpriteError as error:
        raise from_sprite_error(error) from error


def _event_id_floor(project: Project) -> int | None:
    """Above the bridge's last event id (with room for what it writes until it stops), for a
    log the restore cannot keep; None when the bridge does not say."""
    last = agent_activity(project).last_event_id
    return None if last is None else last + EVENT_ID_MARGIN


def restore_checkpoint(project: Project, checkpoint_id: str) -> None:
    ensure_running(project)
    known = {checkpoint.id for checkpoint in list_checkpoints(project)}
    if checkpoint_id not in known:
        raise ProjectError(f"There is no checkpoint {checkpoint_id!r}.", "not_found")
    try:
        with project_work_lock(project.pk, wait_seconds=PERSON_WAIT_SECONDS):
            run_sync(
                backend_for(project).restore_checkpoint(
                    project.sprite_name, checkpoint_id, event_id_floor=_event_id_floor(project)
                )
            )
    except ProjectBusy as error:
        raise ProjectError("The project is busy; try again in a moment.", "conflict") from error
    except SpriteError as error:
        raise from_sprite_error(error) from error
