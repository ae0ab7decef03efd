"""The workspace's service controls: start/stop/restart/run a service (JSON, for the
sidebar's buttons), a cron job's runs (an HTML fragment), and a service's log streamed live
(Server-Sent Events for the logs panel's EventSource).

Each view finds the project through the scoped lookup (another person's is a 404) and calls
one function of ``projects.bridge.services``, as the REST API does. Log lines are sent as
JSON strings and shown by the page as text only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from organisations.roles import Ability
from projects.bridge import services
from projects.dashboard.http import fragment_error, json_error
from projects.errors import ProjectError, status_of
from projects.lookup import get_project_for_user
from projects.models import Project

# The browser's EventSource reconnects this long after a stream ends (the bridge went to
# sleep, the bounded stream ran out); each new stream starts with the log's last lines.
RECONNECT_MILLISECONDS = 3000


@login_required
@require_POST
def service_action(
    request: AuthenticatedHttpRequest, public_id: str, name: str, action: str
) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    try:
        service = services.service_action(project, name, action)
    except ProjectError as error:
        return json_error(error)
    return JsonResponse({"ok": True, "service": service})


@login_required
@require_GET
def service_runs(request: HttpRequest, public_id: str, name: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    try:
        runs = services.runs(project, name)
    except ProjectError as error:
        return fragment_error(request, error)
    return render(
        request,
        "projects/workspace/_service_runs.html",
        {"project": project, "service": name, "runs": runs},
    )


def _frame(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _log_events(project: Project, name: str, lines: object) -> AsyncIterator[bytes]:
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
    try:
        async for line in services.follow_log(project, name, lines):
            yield _frame("log", {"line": line})
    except ProjectError as error:
        # Told as an event (the stream has begun): the page shows it and stops reconnecting.
        yield _frame("failure", {"status": status_of(error), "message": error.message})
    except ValueError:
        yield _frame("failure", {"status": 502, "message": "The service's log stream broke."})


@login_required
@require_GET
async def service_log_stream(request: HttpRequest, public_id: str, name: str) -> HttpResponseBase:
    """``text/event-stream`` of ``log`` events (``{"line"}``): the last ``?lines=`` lines
    (default 200), then each new one; a ``failure`` event ends it when it cannot go on."""
    user = await request.auser()
    project = await sync_to_async(get_project_for_user)(user, public_id)
    try:
        clean_name = services.clean_service_name(name)
        lines = services.clean_line_count(request.GET.get("lines"))
    except ProjectError as error:
        return json_error(error)
    response = StreamingHttpResponse(
        _log_events(project, clean_name, lines), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
