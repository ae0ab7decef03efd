"""Dashboard pages for projects. Each view parses input, authorises, calls one domain function."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.http import AuthenticatedHttpRequest
from accounts.model_catalog import providers_for
from bridge_agent.protocol import (
    IMAGE_MIME_TYPES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_IMAGES_TOTAL_BYTES,
    THINKING_LEVELS,
)
from gateway import budgets, usage
from organisations.actions import organisations_of
from organisations.current import current_organisation
from organisations.errors import RoleRequired
from organisations.roles import Ability, allows
from projects import actions
from projects.dashboard.forms import ProjectForm, SecretForm
from projects.errors import ProjectError, status_of
from projects.lookup import can_delete, check_delete, get_project_for_user, project_to_delete
from projects.models import Kind, Project
from projects.secrets import APPLIES_WHEN, remove_project_secret, set_project_secret
from starter.vendor_files import HIGHLIGHT_LANGUAGES


@login_required
@require_http_methods(["GET", "POST"])
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    # The home lists, and "New project" creates in, the organisation chosen in the top bar.
    organisation = current_organisation(request)
    form = ProjectForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                project = actions.create_project(
                    user,
                    form.cleaned_data["name"],
                    form.cleaned_data["description"],
                    organisation=organisation,
                )
            except (ProjectError, RoleRequired) as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request, f"Project “{project.name}” created. Its Sprite is starting."
                )
                return redirect("projects:detail", public_id=project.public_id)
    projects = list(Project.objects.for_user(user).listed().filter(organisation=organisation))
    # Today's and this month's model usage of each (the ledger's sums, one query).
    periods = usage.projects_periods(user.pk, [project.public_id for project in projects])
    for project in projects:
        project.usage = periods[project.public_id]  # type: ignore[attr-defined]
    template = (
        "projects/_project_list.html"
        if request.headers.get("HX-Target") == "project-list"
        else "projects/home.html"
    )
    status = 422 if request.method == "POST" else 200
    # The page's script takes its URLs from here (static/js/pages/home.js).
    home_config = {"urls": {"socket": "/ws/home/", "list": reverse("projects:home")}}
    context = {
        "projects": projects,
        "form": form,
        "home_config": home_config,
        "organisation": organisation,
    }
    return render(request, template, context, status=status)


@login_required
@require_safe
def detail(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    """The project workspace. Everything from the agent is fetched by the page's script,
    so rendering it never waits on the project's machine."""
    project = get_project_for_user(request.user, public_id)
    return render_workspace(request, project)


def render_workspace(
    request: AuthenticatedHttpRequest, project: Project, extra: dict[str, object] | None = None
) -> HttpResponse:
    """The workspace page for a project; the general agent uses it too (general_agent_views)."""
    user = request.user
    project_usage = usage.project_periods(user.pk, project.public_id)
    # The caller's role decides what the page offers (the server refuses the rest anyway):
    # a viewer watches, with the composer, terminal input and file changes turned off.
    role = getattr(project, "member_role", None) or ""
    can_use = allows(role, Ability.USE)
    context: dict[str, object] = {
        "project": project,
        "member_role": role,
        "read_only": not can_use,
        "viewer_note": viewer_note(project),
        "project_usage": project_usage,
        "secrets": project.secrets.exclude(name__startswith="STARTER_"),
        "workspace_config": {
            "publicId": project.public_id,
            "name": project.name,
            "status": project.status,
            "statusLabel": project.get_status_display(),
            "secretNames": [
                secret.name for secret in project.secrets.exclude(name__startswith="STARTER_")
            ],
            "providers": [provider.as_json() for provider in providers_for(project.organisation)],
            "thinkingLevels": list(THINKING_LEVELS),
            "urls": _workspace_urls(project),
            # Where the top bar and the chat meters start (static/js/workspace/usage-meter.js).
            "usage": {
                "today": project_usage.today.as_json(),
                "month": project_usage.month.as_json(),
            },
            "generalAgent": project.kind == Kind.GENERAL_AGENT,
            # A viewer watches: the composer is disabled (the server refuses anyway).
            "readOnly": not can_use,
            # The caller's role in the project's organisation and what it allows
            # (static/js/workspace/read-only.js turns the page read-only for a viewer).
            "role": role,
            "organisation": {
                "publicId": project.organisation.public_id,
                "name": project.organisation.name,
            },
            "can": {
                "use": can_use,
                "manage": allows(role, Ability.MANAGE),
                "delete": can_delete(project, user),
            },
            "viewerNote": "" if can_use else viewer_note(project),
            # The composer checks images as the server will (chat/attachments.js).
            "images": {
                "types": list(IMAGE_MIME_TYPES),
                "maxCount": MAX_IMAGES,
                "maxBytes": MAX_IMAGE_BYTES,
                "maxTotalBytes": MAX_IMAGES_TOTAL_BYTES,
            },
        },
    }
    # The languages the chat colours: the ones served (starter/vendor_files.py).
    context["highlight_languages"] = " ".join(HIGHLIGHT_LANGUAGES)
    context.update(extra or {})
    return render(request, "projects/workspace.html", context)


def viewer_note(project: Project) -> str:
    return f"You are a viewer in {project.organisation.name}: you can watch but not prompt."


FILES_OPERATIONS = (
    "tree",
    "stat",
    "text",
    "save",
    "rename",
    "delete",
    "download",
    "archive",
    "upload",
)


def _workspace_urls(project: Project) -> dict[str, str]:
    names = [
        "agent_history",
        "agent_send",
        "agent_abort",
        "agent_commands",
        "agent_state",
        "agent_config",
        "agent_sessions",
        "agent_session_new",
        "agent_session_switch",
        "agent_session_rename",
        "agent_session_delete",
        "agent_sessions_archived",
        "agent_session_restore",
        "agent_queue_clear",
        "agent_compact",
        "agent_tree",
        "agent_edit",
        "agent_clone",
        "secret_provide",
        "preview_link",
        "inspect",
        "file_view",
        "file_raw",
        "logs",
        "checkpoints",
        "checkpoint_restore",
        "usage",
        "lifecycle",
        "manage",
        "limits",
        "guard_continue",
        "guard_stop",
        *(f"files_{name}" for name in FILES_OPERATIONS),
    ]
    urls = {name: reverse(f"projects:{name}", args=[project.public_id]) for name in names}
    # The trace URL takes the session id; the page fills it in.
    urls["trace"] = reverse("projects:trace", args=[project.public_id, "SESSION"])
    # Service URLs take the service's name (and the action's); the page fills them in.
    urls["service_action"] = reverse(
        "projects:service_action", args=[project.public_id, "NAME", "ACTION"]
    )
    urls["service_runs"] = reverse("projects:service_runs", args=[project.public_id, "NAME"])
    urls["service_log_stream"] = reverse(
        "projects:service_log_stream", args=[project.public_id, "NAME"]
    )
    urls["websocket"] = f"/ws/projects/{project.public_id}/"
    urls["terminals"] = reverse("projects:terminals", args=[project.public_id])
    urls["terminal_close"] = reverse(
        "projects:terminal_close", args=[project.public_id, "TERMINAL"]
    )
    urls["terminal_socket"] = f"/ws/projects/{project.public_id}/terminals/TERMINAL/"
    # The terminal panel loads xterm.js (vendored from npm) only when one is opened.
    urls["xterm"] = static("vendor/xterm/xterm.mjs")
    urls["xterm_fit"] = static("vendor/xterm-fit/addon-fit.mjs")
    urls["xterm_css"] = static("vendor/xterm-css/xterm.css")
    # Lifecycle actions take the action's name, tool cards link to the project they touched.
    urls["action"] = reverse("projects:action", args=[project.public_id, "ACTION"])
    urls["project"] = reverse("projects:detail", args=["PUBLIC_ID"])
    urls["home"] = reverse("projects:home")
    urls["settings_budget"] = reverse("accounts:settings") + "#budget"
    return urls


@login_required
@require_safe
def manage_panel(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    """The project's settings panel: lifecycle, secrets, rename and delete."""
    project = get_project_for_user(request.user, public_id)
    return render(
        request,
        "projects/workspace/_manage.html",
        {
            "project": project,
            "secrets": project.secrets.all(),
            "secret_form": SecretForm(),
            "limits": budgets.limits_document(project),
        },
    )


@login_required
def secrets_overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The settings page's "Project secrets" section: each project's secret names, never a
    value. Served by projects/ so that accounts/ keeps knowing nothing of projects."""
    projects = Project.objects.for_user(request.user).prefetch_related("secrets")
    rows = [(project, [secret.name for secret in project.secrets.all()]) for project in projects]
    return render(request, "projects/_secrets_overview.html", {"rows": rows})


@login_required
def palette_items(request: AuthenticatedHttpRequest) -> JsonResponse:
    """What the command palette offers on every page: the current organisation's projects
    and actions, and the person's other organisations to switch to."""
    current = current_organisation(request)
    projects = [
        {
            "public_id": project.public_id,
            "name": project.name,
            "status": project.status,
            "status_label": project.get_status_display(),
            "url": reverse("projects:detail", args=[project.public_id]),
            "wake_url": reverse("projects:action", args=[project.public_id, "wake"]),
            "sleep_url": reverse("projects:action", args=[project.public_id, "sleep"]),
        }
        for project in Project.objects.for_user(request.user).listed().filter(organisation=current)
    ]
    organisations = [
        {
            "name": organisation.name,
            "role": role,
            "current": organisation.pk == current.pk,
            "switch_url": reverse("organisations:switch", args=[organisation.public_id]),
        }
        for organisation, role in organisations_of(request.user)
    ]
    return JsonResponse({"projects": projects, "organisations": organisations})


@login_required
@require_safe
def status_badge(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    return render(request, "projects/_status.html", {"project": project})


@login_required
@require_safe
def lifecycle_panel(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    """The Sprite card alone: htmx refreshes it while the project is busy."""
    project = get_project_for_user(request.user, public_id)
    return render(request, "projects/_lifecycle.html", {"project": project})


@login_required
@require_http_methods(["GET", "POST"])
def rename(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    form = ProjectForm(
        request.POST or None, initial={"name": project.name, "description": project.description}
    )
    if request.method == "POST" and form.is_valid():
        actions.rename_project(project, form.cleaned_data["name"], form.cleaned_data["description"])
        messages.success(request, "Project renamed.")
        return redirect("projects:detail", public_id=project.public_id)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "projects/rename.html", {"project": project, "form": form}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    project = project_to_delete(request.user, public_id)
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != project.name:
            messages.error(request, "Type the project's name exactly to confirm the deletion.")
            return render(request, "projects/delete.html", {"project": project}, status=422)
        actions.destroy_project(project, actor=request.user)
        messages.success(request, f"Project “{project.name}” is being deleted.")
        return redirect("projects:home")
    return render(request, "projects/delete.html", {"project": project})


@login_required
@require_POST
def lifecycle_action(
    request: AuthenticatedHttpRequest, public_id: str, action: str
) -> HttpResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    if action == "destroy":
        check_delete(project, request.user)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        actions.perform(project, action, actor=request.user)
    except ProjectError as error:
        if wants_json:  # the command palette and the workspace call this with fetch
            return JsonResponse(
                {"error": error.code, "message": error.message}, status=status_of(error)
            )
        messages.error(request, error.message)
    else:
        if wants_json:
            return JsonResponse({"ok": True, "message": actions.DONE_MESSAGES[action]})
        messages.success(request, actions.DONE_MESSAGES[action])
    return redirect("projects:detail", public_id=project.public_id)


@login_required
@require_POST
def secret_set(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    form = SecretForm(request.POST)
    if form.is_valid():
        try:
            set_project_secret(
                project, form.cleaned_data["name"], form.cleaned_data["value"], request.user
            )
        except ProjectError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request, f"Secret {form.cleaned_data['name'].strip()} saved. {APPLIES_WHEN}"
            )
    else:
        for field_errors in form.errors.values():
            for text in field_errors:
                messages.error(request, str(text))
    return redirect("projects:detail", public_id=project.public_id)


@login_required
@require_POST
def secret_remove(request: AuthenticatedHttpRequest, public_id: str, name: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    try:
        remove_project_secret(project, name, request.user)
    except ProjectError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Secret {name} removed. {APPLIES_WHEN}")
    return redirect("projects:detail", public_id=project.public_id)
