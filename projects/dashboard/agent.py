"""JSON endpoints behind the workspace's chat panels and top bar.

Every view finds the project through `get_project_for_user` (another user's project is a
404), parses its input, calls one function of `projects.bridge.agent` (or the services
and preview modules), and answers JSON; failures answer `{"error", "message"}` with a 4xx.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from gateway import usage
from organisations.roles import Ability
from projects.bridge import agent
from projects.dashboard.http import BadRequest, json_error, payload, text_field
from projects.errors import ProjectError
from projects.lookup import get_project_for_user
from projects.secrets import set_project_secret

AgentErrors = (ProjectError, BadRequest)
JsonView = Callable[..., JsonResponse]


def errors_as_json(view: JsonView) -> JsonView:
    """Answer the agent's and the domain's refusals as `{"error", "message"}` with their 4xx."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            return view(request, *args, **kwargs)
        except AgentErrors as error:
            return json_error(error)

    return wrapper


@login_required
@require_GET
@errors_as_json
def agent_history(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    session_id = agent.clean_session_id(request.GET.get("session_id"))
    return JsonResponse(agent.history(project, session_id))


@login_required
@require_POST
@errors_as_json
def agent_send(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    data = payload(request)
    session_id = agent.clean_session_id(data.get("session_id"))
    sent = agent.send(
        project,
        session_id,
        text_field(data, "message"),
        text_field(data, "mode", "prompt"),
        data.get("images"),  # checked by the domain, as for the API
        author=request.user,
    )
    return JsonResponse({"ok": True, **sent}, status=202)


@login_required
@require_POST
@errors_as_json
def agent_queue_clear(request: HttpRequest, public_id: str) -> JsonResponse:
    """Take back the queued messages; the page puts their texts back in the composer."""
    project = get_project_for_user(request.user, public_id, Ability.USE)
    session_id = agent.clean_session_id(payload(request).get("session_id"))
    return JsonResponse({"ok": True, **agent.clear_queue(project, session_id)})


@login_required
@require_GET
@errors_as_json
def agent_commands(request: HttpRequest, public_id: str) -> JsonResponse:
    """The session's `/` commands for the composer's suggestion list."""
    project = get_project_for_user(request.user, public_id)
    session_id = agent.clean_session_id(request.GET.get("session_id"))
    return JsonResponse(agent.slash_commands(project, session_id))


@login_required
@require_POST
@errors_as_json
def agent_abort(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    agent.abort(project, agent.clean_session_id(payload(request).get("session_id")))
    return JsonResponse({"ok": True})


@login_required
@require_GET
@errors_as_json
def agent_sessions(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    listed = agent.list_sessions(project)
    # Each session's model use, from the ledger (the picker shows its cost).
    totals = usage.sessions_totals(project.owner_id, project.public_id)
    for session in listed["sessions"]:
        found = totals.get(str(session.get("id") or ""))
        session["usage"] = found.as_json() if found is not None else None
    return JsonResponse(listed)


@login_required
@require_POST
@errors_as_json
def agent_session_new(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    name = text_field(payload(request), "name") or None
    return JsonResponse({"ok": True, "session_id": agent.new_session(project, name)}, status=201)


@login_required
@require_POST
@errors_as_json
def agent_session_rename(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    data = payload(request)
    session_id = agent.clean_session_id(data.get("session_id"))
    renamed = agent.rename_session(project, session_id, text_field(data, "name"))
    return JsonResponse({"ok": True, **renamed})


@login_required
@require_POST
@errors_as_json
def agent_session_delete(request: HttpRequest, public_id: str) -> JsonResponse:
    """Archive a session (the picker's Delete, after the person confirmed)."""
    project = get_project_for_user(request.user, public_id, Ability.USE)
    deleted = agent.delete_session(project, payload(request).get("session_id"))
    return JsonResponse({"ok": True, **deleted})


@login_required
@require_GET
@errors_as_json
def agent_sessions_archived(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    return JsonResponse({"archived": agent.archived_sessions(project)})


@login_required
@require_POST
@errors_as_json
def agent_session_restore(request: HttpRequest, public_id: str) -> JsonResponse:
    """Bring an archived session back (the session manager's Restore)."""
    project = get_project_for_user(request.user, public_id, Ability.USE)
    restored = agent.restore_session(project, payload(request).get("file"))
    return JsonResponse({"ok": True, **restored})


@login_required
@require_POST
@errors_as_json
def agent_session_switch(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    session_id = agent.clean_session_id(payload(request).get("session_id"))
    return JsonResponse({"ok": True, "session_id": agent.switch_session(project, session_id)})


@login_required
@require_POST
@errors_as_json
def agent_compact(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    session_id = agent.clean_session_id(payload(request).get("session_id"))
    return JsonResponse(agent.compact(project, session_id))


@login_required
@require_GET
@errors_as_json
def agent_state(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    session_id = agent.clean_session_id(request.GET.get("session_id"))
    return JsonResponse(agent.agent_state(project, session_id))


@login_required
@require_POST
@errors_as_json
def agent_config(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    data = payload(request)
    answer = agent.configure(
        project,
        agent.clean_session_id(data.get("session_id")),
        text_field(data, "model") or None,
        text_field(data, "thinking_level") or None,
    )
    return JsonResponse(answer)


@login_required
@require_POST
def secret_provide(request: HttpRequest, public_id: str) -> JsonResponse:
    """The agent's `request_secret` form: the value goes to the project's secrets only.

    It is never echoed, logged or sent to the agent; the chat then tells the agent the
    NAME is set (the Sprite restarts its bridge with the new environment).
    """
    project = get_project_for_user(request.user, public_id, Ability.USE)
    try:
        data = payload(request)
        secret = set_project_secret(
            project, text_field(data, "name"), text_field(data, "value"), request.user
        )
    except (ProjectError, BadRequest) as error:
        return json_error(error)
    return JsonResponse({"ok": True, "name": secret.name})


@login_required
@require_GET
def preview_link(request: AuthenticatedHttpRequest, public_id: str) -> JsonResponse:
    """A fresh signed link to the app's preview origin (the link is short-lived); with
    ``?port=N``, to the preview of that port (a service's own preview)."""
    project = get_project_for_user(request.user, public_id)
    port: int | None = None
    if request.GET.get("port"):
        raw_port = request.GET["port"].strip()
        if not raw_port.isdigit() or len(raw_port) > 5 or not 1 <= int(raw_port) <= 65535:
            return json_error(ProjectError("A preview port is a number from 1 to 65535."))
        port = int(raw_port)
    try:
        from projects.preview.links import preview_link as make_link
    except ImportError:  # the preview proxy is not installed in this deployment
        return JsonResponse(
            {"error": "preview_unavailable", "message": "App previews are not available here."},
            status=503,
        )
    try:
        # The link's origin follows the host and port this page was served on.
        link = make_link(request.user, project, request.build_absolute_uri("/"), port=port)
        return JsonResponse({"url": link, "port": port})
    except AgentErrors as error:
        return json_error(error)
