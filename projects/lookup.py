"""The one way views find a project for a person: scoped to the owner, 404 otherwise."""

from __future__ import annotations

from django.http import Http404

from projects.models import Project


def get_project_for_user(user: object, public_id: str) -> Project:
    project = (
        Project.objects.for_user(user).select_related("owner").filter(public_id=public_id).first()
    )
    if project is None:
        raise Http404("No such project.")
    return project
