"""The workspace's branching views: the chat's edit-and-resend and duplicate (JSON, called
with fetch) and the tree of a session in its trace panel (an htmx fragment whose buttons
switch branch).

Each view finds the project through `get_project_for_user` (another person's project is a
404) and calls one function of `projects.bridge.branches`, as the REST API does.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from organisations.roles import Ability
from projects.bridge import branches
from projects.dashboard.agent import AgentErrors, errors_as_json
from projects.dashboard.http import fragment_error, payload, text_field
from projects.lookup import get_project_for_user
from projects.models import Project


@login_required
@require_GET
@errors_as_json
def agent_tree(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    return JsonResponse(branches.session_tree(project, request.GET.get("session_id", "")))


@login_required
@require_POST
@errors_as_json
def agent_edit(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    data = payload(request)
    sent_to = branches.edit_message(
        project,
        text_field(data, "session_id"),
        text_field(data, "entry_id"),
        text_field(data, "message"),
        data.get("images"),  # checked by the domain, as for the API
    )
    return JsonResponse({"ok": True, "session_id": sent_to}, status=202)


@login_required
@require_POST
@errors_as_json
def agent_clone(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    clone_id = branches.clone_session(project, text_field(payload(request), "session_id"))
    return JsonResponse({"ok": True, "session_id": clone_id}, status=201)


@login_required
@require_GET
def session_branches(request: HttpRequest, public_id: str, session_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    try:
        tree = branches.session_tree(project, session_id)
    except AgentErrors as error:
        return fragment_error(request, error)
    return _render_tree(request, project, tree)


@login_required
@require_POST
def session_branch_switch(request: HttpRequest, public_id: str, session_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    try:
        entry_id = text_field(payload(request), "entry_id")
        tree = branches.switch_branch(project, session_id, entry_id)
    except AgentErrors as error:
        return fragment_error(request, error)
    return _render_tree(request, project, tree)


def _render_tree(request: HttpRequest, project: Project, tree: dict[str, object]) -> HttpResponse:
    nodes = tree["nodes"]
    rows = branches.outline(nodes if isinstance(nodes, list) else [])
    return render(
        request,
        "projects/workspace/_branches.html",
        {
            "project": project,
            "session_id": tree["session_id"],
            "rows": rows,
            "branched": any(row.branch_count > 1 for row in rows),
            "truncated": tree.get("truncated"),
        },
    )
