"""The project status machine of DESIGN.md, applied with conditional updates.

creating → bootstrapping → running ⇄ sleeping; any live status → destroying → destroyed;
and error (with a message) from any step, left by a retry. A transition is a single
`UPDATE … WHERE status IN (…)`, so a task that runs twice, or two workers racing, cannot
move a project along an edge that does not exist.
"""

from __future__ import annotations

from django.utils import timezone

from projects.models import Project, Status

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.CREATING: frozenset({Status.BOOTSTRAPPING, Status.ERROR, Status.DESTROYING}),
    Status.BOOTSTRAPPING: frozenset({Status.RUNNING, Status.ERROR, Status.DESTROYING}),
    Status.RUNNING: frozenset(
        {Status.SLEEPING, Status.BOOTSTRAPPING, Status.ERROR, Status.DESTROYING}
    ),
    Status.SLEEPING: frozenset(
        {Status.RUNNING, Status.BOOTSTRAPPING, Status.ERROR, Status.DESTROYING}
    ),
    Status.ERROR: frozenset(
        {Status.CREATING, Status.BOOTSTRAPPING, Status.RUNNING, Status.DESTROYING}
    ),
    Status.DESTROYING: frozenset({Status.DESTROYED, Status.ERROR}),
    Status.DESTROYED: frozenset(),
}


def sources_of(target: str) -> set[str]:
    return {source for source, targets in ALLOWED_TRANSITIONS.items() if target in targets}


def transition(
    project: Project,
    target: Status,
    *,
    only_from: set[str] | None = None,
    message: str = "",
) -> bool:
    """Move `project` to `target` if its current status allows it. Returns whether it moved.

    `only_from` narrows the allowed sources (e.g. wake only from sleeping). The instance is
    refreshed either way so callers see the status that won.
    """
    sources = sources_of(target)
    if only_from is not None:
        sources &= only_from
    fields: dict[str, object] = {"status": target, "updated_at": timezone.now()}
    fields["status_message"] = message
    if target != Status.BOOTSTRAPPING and target != Status.CREATING:
        fields.update(progress_step="", progress_done=0, progress_total=0)
    moved = Project.objects.filter(pk=project.pk, status__in=sources).update(**fields) == 1
    project.refresh_from_db()
    return moved
