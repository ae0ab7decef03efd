"""What every projects API module needs: the caller's project, found the one scoped way."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from accounts.api_auth import principal_of
from projects.lookup import get_project_for_user
from projects.models import Project
from projects.public_ids import looks_like_public_id


def project_for(request: HttpRequest, project_id: str) -> Project:
    """The caller's project, or a 404 (another person's project looks exactly like none)."""
    if not looks_like_public_id(project_id):
        raise Http404("No such project.")
    return get_project_for_user(principal_of(request).user, project_id)
