"""Every scoped lookup of a project: for a signed-in person (pages, fragments), for an API
caller (token or session), for a websocket consumer and for the preview proxy.

All of them go through ``Project.objects.for_user``: a person only ever finds what they
own, and another person's project looks exactly like one that does not exist.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest

from accounts.api_auth import principal_of
from projects.models import Project
from projects.public_ids import looks_like_public_id

NO_SUCH_PROJECT = "No such project."


def find_project_for_user(user: object, public_id: str) -> Project | None:
    """The user's project (with its owner loaded), or None; any user-like object, an
    anonymous one or None finds nothing."""
    return (
        Project.objects.for_user(user).select_related("owner").filter(public_id=public_id).first()
    )


def get_project_for_user(user: object, public_id: str) -> Project:
    """The user's project, or a 404 (for views)."""
    project = find_project_for_user(user, public_id)
    if project is None:
        raise Http404(NO_SUCH_PROJECT)
    return project


def project_for_principal(request: HttpRequest, project_id: str) -> Project:
    """The API caller's project, or a 404 (a malformed id is one too, before any query)."""
    if not looks_like_public_id(project_id):
        raise Http404(NO_SUCH_PROJECT)
    return get_project_for_user(principal_of(request).user, project_id)
