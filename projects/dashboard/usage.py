"""The workspace's usage numbers (JSON for static/js/workspace/usage-meter.js): the same
snapshot the gateway publishes after each call, read when a chat opens."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, JsonResponse
from django.views.decorators.http import require_GET

from accounts.http import AuthenticatedHttpRequest
from bridge_agent.protocol import SESSION_ID_PATTERN
from gateway import usage_live
from projects.lookup import get_project_for_user

_SESSION_ID = re.compile(SESSION_ID_PATTERN)


@login_required
@require_GET
def usage_snapshot(request: AuthenticatedHttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    session_id = request.GET.get("session_id", "")
    if session_id and not _SESSION_ID.match(session_id):
        return JsonResponse(
            {"error": "invalid", "message": "session_id is not a session's id."},
            status=HttpResponseBadRequest.status_code,
        )
    return JsonResponse(usage_live.snapshot(request.user.pk, project.public_id, session_id))
