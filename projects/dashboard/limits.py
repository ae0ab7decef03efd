"""JSON endpoints for budgets and the loop guard: the workspace's budget bar, the guard
card's "continue" and "stop", and the budget and guard settings forms.

Each finds the project through ``get_project_for_user`` (another user's project is a 404)
and calls one function of ``gateway.limits``, ``gateway.budgets`` or ``gateway.run_control``
(the REST API calls the same ones).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from gateway import budgets, limits, run_control
from organisations.current import current_organisation
from organisations.provider_settings import require_manager
from organisations.roles import Ability
from projects.dashboard.agent import errors_as_json
from projects.dashboard.http import BadRequest, json_error, payload
from projects.errors import ProjectError
from projects.lookup import get_project_for_user
from projects.models import Project


@login_required
@require_GET
@errors_as_json
def project_limits(request: HttpRequest, public_id: str) -> JsonResponse:
    """The project's budget, guard settings and budget state (the workspace's bar)."""
    project = get_project_for_user(request.user, public_id)
    return JsonResponse(budgets.limits_document(project))


@login_required
@require_POST
def project_limits_update(request: HttpRequest, public_id: str) -> HttpResponse:
    """Change the project's budget and/or its guard: JSON (``monthly_budget``, ``guard``)
    from a script, or the settings panel's form (which comes back to the workspace)."""
    project = get_project_for_user(request.user, public_id, Ability.USE)
    if request.content_type != "application/json":
        try:
            _apply_form(project, request.POST)
        except ProjectError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Budget and loop guard saved.")
        return redirect("projects:detail", public_id=project.public_id)
    try:
        data = payload(request)
        if "monthly_budget" in data:
            budgets.set_project_budget(project, data["monthly_budget"])
        guard = data.get("guard")
        if guard is not None:
            if not isinstance(guard, dict):
                raise BadRequest("'guard' is an object of the guard's settings.")
            limits.set_guard(
                project,
                enabled=guard.get("enabled"),
                repeat_limit=guard.get("repeat_limit"),
                call_limit=guard.get("call_limit"),
                run_minutes=guard.get("run_minutes"),
            )
    except (ProjectError, BadRequest) as error:
        return json_error(error)
    return JsonResponse(budgets.limits_document(project))


def _apply_form(project: Project, form: QueryDict) -> None:
    budgets.set_project_budget(project, form.get("monthly_budget", ""))
    limits.set_guard(
        project,
        enabled=form.get("guard_enabled") == "on",
        repeat_limit=form.get("guard_repeat_limit") or None,
        call_limit=form.get("guard_call_limit") or None,
        run_minutes=form.get("guard_run_minutes") or None,
    )


@login_required
@require_GET
def user_budget_panel(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The settings page's "Monthly budget" section: the current organisation's budget, for
    its admins and owners (a 403 naming the role for others). Served here: accounts/
    knows nothing of the gateway."""
    organisation = current_organisation(request)
    require_manager(organisation, request.user)
    document = budgets.organisation_budget_document(organisation)
    return render(request, "projects/_user_budget.html", {"budget": document})


@login_required
@require_POST
def user_budget_update(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The current organisation's monthly budget (admins and owners): JSON, or the settings
    page's form."""
    organisation = current_organisation(request)
    require_manager(organisation, request.user)
    if request.content_type != "application/json":
        try:
            budgets.set_organisation_budget(
                organisation, request.user, request.POST.get("monthly_budget", "")
            )
        except ProjectError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Monthly budget saved.")
        return redirect(reverse("accounts:settings") + "#budget")
    try:
        budgets.set_organisation_budget(
            organisation, request.user, payload(request).get("monthly_budget")
        )
    except (ProjectError, BadRequest) as error:
        return json_error(error)
    return JsonResponse(budgets.organisation_budget_document(organisation))


@login_required
@require_POST
@errors_as_json
def guard_continue(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    done = run_control.continue_run(project, payload(request).get("session_id"))
    return JsonResponse({"ok": True, **done}, status=202)


@login_required
@require_POST
@errors_as_json
def guard_stop(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    done = run_control.stop_run(project, payload(request).get("session_id"))
    return JsonResponse({"ok": True, **done})
