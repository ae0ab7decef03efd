"""The general agent in the dashboard: the same workspace and chat panels as a project,
opened from the home screen and the palette."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.http import AuthenticatedHttpRequest
from projects.dashboard.pages import render_workspace
from projects.general_agent import (
    access_is_active,
    ensure_general_agent,
    find_general_agent,
    renew_access,
)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def agent_workspace(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET opens the user's general agent, or offers to start it; POST starts it (once:
    posting again opens the same one). A GET never creates anything."""
    if request.method == "POST":
        ensure_general_agent(request.user)
        return redirect("projects:general_agent")
    agent = find_general_agent(request.user)
    if agent is None:
        return render(request, "projects/general_agent_start.html")
    return render_workspace(
        request,
        agent,
        {"general_agent": True, "agent_access_active": access_is_active(agent)},
    )


@login_required
@require_POST
def renew_agent_access(request: AuthenticatedHttpRequest) -> HttpResponse:
    agent = ensure_general_agent(request.user)
    renew_access(agent)
    messages.success(request, "The general agent has a new access token; it restarts with it.")
    return redirect("projects:general_agent")
