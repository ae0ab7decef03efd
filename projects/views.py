"""Dashboard pages for projects. Each view parses input, authorises, calls one domain function."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from projects import actions
from projects.forms import ProjectForm, SecretForm
from projects.lookup import get_project_for_user
from projects.models import Project
from projects.services import (
    ProjectError,
    create_project,
    destroy_project,
    remove_project_secret,
    rename_project,
    set_project_secret,
)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # guaranteed by @login_required
    return user


@login_required
@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ProjectForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                project = create_project(
                    user, form.cleaned_data["name"], form.cleaned_data["description"]
                )
            except ProjectError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request, f"Project “{project.name}” created. Its Sprite is starting."
                )
                return redirect("projects:detail", public_id=project.public_id)
    projects = Project.objects.for_user(user)
    template = (
        "projects/_project_list.html"
        if request.headers.get("HX-Target") == "project-list"
        else "projects/home.html"
    )
    status = 422 if request.method == "POST" else 200
    return render(request, template, {"projects": projects, "form": form}, status=status)


@login_required
def detail(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    return render(
        request,
        "projects/detail.html",
        {
            "project": project,
            "secrets": project.secrets.all(),
            "secret_form": SecretForm(),
        },
    )


@login_required
def status_badge(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    return render(request, "projects/_status.html", {"project": project})


@login_required
def lifecycle_panel(request: HttpRequest, public_id: str) -> HttpResponse:
    """The Sprite card alone: htmx refreshes it while the project is busy."""
    project = get_project_for_user(request.user, public_id)
    return render(request, "projects/_lifecycle.html", {"project": project})


@login_required
@require_http_methods(["GET", "POST"])
def rename(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    form = ProjectForm(
        request.POST or None, initial={"name": project.name, "description": project.description}
    )
    if request.method == "POST" and form.is_valid():
        rename_project(project, form.cleaned_data["name"], form.cleaned_data["description"])
        messages.success(request, "Project renamed.")
        return redirect("projects:detail", public_id=project.public_id)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "projects/rename.html", {"project": project, "form": form}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != project.name:
            messages.error(request, "Type the project's name exactly to confirm the deletion.")
            return render(request, "projects/delete.html", {"project": project}, status=422)
        destroy_project(project)
        messages.success(request, f"Project “{project.name}” is being deleted.")
        return redirect("projects:home")
    return render(request, "projects/delete.html", {"project": project})


@login_required
@require_POST
def lifecycle_action(request: HttpRequest, public_id: str, action: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    try:
        actions.perform(project, action)
    except ProjectError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, actions.DONE_MESSAGES[action])
    return redirect("projects:detail", public_id=project.public_id)


@login_required
@require_POST
def secret_set(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    form = SecretForm(request.POST)
    if form.is_valid():
        try:
            set_project_secret(project, form.cleaned_data["name"], form.cleaned_data["value"])
        except ProjectError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Secret {form.cleaned_data['name'].strip()} saved.")
    else:
        for field_errors in form.errors.values():
            for text in field_errors:
                messages.error(request, str(text))
    return redirect("projects:detail", public_id=project.public_id)


@login_required
@require_POST
def secret_remove(request: HttpRequest, public_id: str, name: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    try:
        remove_project_secret(project, name)
    except ProjectError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Secret {name} removed.")
    return redirect("projects:detail", public_id=project.public_id)
