"""The workspace's terminal controls (JSON for the terminal panel): list and create the
project's terminals, close one. The bytes go through the terminal socket
(projects/relay/terminal.py); these views call ``projects.bridge.terminals``, as the REST
API does."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from bridge_agent.terminals import DEFAULT_COLS, DEFAULT_ROWS
from organisations.roles import Ability
from projects.bridge import terminals
from projects.dashboard.http import json_error, payload
from projects.errors import ProjectError
from projects.lookup import ability_of, get_project_for_user


@login_required
@require_http_methods(["GET", "POST"])
def terminal_list(request: AuthenticatedHttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, ability_of(request))
    try:
        if request.method == "GET":
            return JsonResponse({"terminals": terminals.list_terminals(project)})
        data = payload(request)
        terminal = terminals.create_terminal(
            project, data.get("cols", DEFAULT_COLS), data.get("rows", DEFAULT_ROWS)
        )
    except ValueError as problem:
        return JsonResponse({"error": "invalid_field", "message": f"{problem}."}, status=400)
    except ProjectError as error:
        return json_error(error)
    return JsonResponse({"terminal": terminal}, status=201)


@login_required
@require_POST
def terminal_close(
    request: AuthenticatedHttpRequest, public_id: str, terminal_id: str
) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    try:
        terminals.close_terminal(project, terminal_id)
    except ProjectError as error:
        return json_error(error)
    return JsonResponse({"ok": True})
