"""HTML fragments for the workspace (htmx): the sidebar, viewers, logs, trace, checkpoints.

Each view renders one partial; failures render `_error.html` with the error's status (the
API's, from `projects.errors`) so the panel says what went wrong instead of staying blank.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bridge_agent import protocol
from organisations.roles import Ability
from projects.bridge import agent, services
from projects.dashboard import spreadsheets, sqlite_browser, viewers
from projects.dashboard.http import BadRequest, fragment_error, payload, text_field
from projects.dashboard.viewers import csv_table
from projects.errors import ProjectError
from projects.lookup import ability_of, get_project_for_user
from projects.models import Project
from projects.preview.raw_files import file_link
from projects.sprite import checkpoints, files

PanelErrors = (ProjectError, BadRequest)

# Raw files are served on the dashboard's origin, so a file the agent wrote must never run
# script here: the sandbox CSP turns an SVG (or anything mislabelled) into an inert document.
RAW_IMAGE_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
# A PDF gets the same inert sandbox (Chromium's viewer still renders it); unlike the rest of
# the dashboard, the workspace's own PDF viewer may frame it.
RAW_PDF_POLICY = "sandbox; default-src 'none'; frame-ancestors 'self'"


@login_required
@require_GET
def inspect_sidebar(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    try:
        tables = agent.inspect(project)
    except PanelErrors as error:
        return fragment_error(request, error)
    services_problem = ""
    try:
        supervised = services.list_services(project)
    except ProjectError as error:
        # The inventory is still worth showing (a bridge from before supervised services
        # answers 404 here; a re-bootstrap brings the new one).
        supervised, services_problem = [], error.message
    # inspect.db mirrors the supervised services; rows the agent wrote by hand (anything it
    # started some other way) stay listed, without controls.
    names = {service["name"] for service in supervised}
    unsupervised = [row for row in tables["services"] if row.get("name") not in names]
    return render(
        request,
        "projects/workspace/_sidebar.html",
        {
            "project": project,
            **tables,
            "supervised": supervised,
            "services": unsupervised,
            "service_count": len(supervised) + len(unsupervised),
            "services_problem": services_problem,
        },
    )


@login_required
@require_GET
def file_view(request: HttpRequest, public_id: str) -> HttpResponse:
    """A file in the viewer of its kind (``viewers``); a sheet (``?sheet=``) or a table and
    page (``?table=&page=``) of a spreadsheet or database."""
    project = get_project_for_user(request.user, public_id)
    try:
        file = viewers.open_file(project, request.GET.get("path", ""))
        page = _page_number(request.GET.get("page", "0"))
    except PanelErrors as error:
        return fragment_error(request, error)
    context: dict[str, object] = {
        "project": project,
        "file": file,
        "download_url": download_url(project, file.path),
    }
    try:
        if file.kind == "csv":
            context["table"] = csv_table(file)
        elif file.kind == "xlsx" and not file.too_large:
            context["sheet"] = spreadsheets.read_sheet(file.data, request.GET.get("sheet"))
        elif file.kind == "sqlite" and not file.too_large:
            context["database"] = sqlite_browser.browse(file.data, request.GET.get("table"), page)
        elif file.kind == "html":
            context["frame_url"] = file_link(
                request.user, project, file.path, request.build_absolute_uri("/")
            )
    except ProjectError as error:
        # The file is still there to download; say why it is not shown.
        context["problem"] = error.message
    return render(request, "projects/workspace/_file_view.html", context)


def _page_number(text: str) -> int:
    if not text.isdigit() or len(text) > 6:
        raise BadRequest("A page is a number from 0.")
    return int(text)


def download_url(project: Project, path: str) -> str:
    """The files panel's streamed download of the whole file (``files.download``)."""
    return (
        reverse("projects:files_download", args=[project.public_id])
        + "?"
        + urlencode({"path": path})
    )


@login_required
@require_GET
@xframe_options_sameorigin  # the PDF viewer embeds it in the workspace
def file_raw(request: HttpRequest, public_id: str) -> HttpResponse:
    """Images and PDFs for <img>/<iframe>; other kinds are rendered by `file_view`."""
    project = get_project_for_user(request.user, public_id)
    try:
        file = viewers.open_file(project, request.GET.get("path", ""))
    except PanelErrors as error:
        return fragment_error(request, error)
    if file.kind not in {"image", "pdf"} or file.too_large:
        return fragment_error(
            request, ProjectError("Only images and PDFs are served raw; open it in a viewer.")
        )
    response = HttpResponse(file.data, content_type=file.content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = (
        RAW_IMAGE_POLICY if file.kind == "image" else RAW_PDF_POLICY
    )
    return response


@login_required
@require_GET
def log_tail(request: HttpRequest, public_id: str) -> HttpResponse:
    """The end of a log file (``?path=``). A service's own log streams from
    ``services.service_log_stream`` instead: no file name is guessed."""
    project = get_project_for_user(request.user, public_id)
    path = request.GET.get("path", "").strip()
    context: dict[str, object] = {"project": project, "path": path}
    try:
        if path:
            context["tail"] = files.tail_log(project, path)
    except PanelErrors as error:
        return fragment_error(request, error)
    return render(request, "projects/workspace/_log_tail.html", context)


@login_required
@require_GET
def session_trace(request: HttpRequest, public_id: str, session_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id)
    try:
        clean_id = agent.clean_session_id(session_id)
        if clean_id is None:
            raise ProjectError("Choose a session.")
        raw, truncated = agent.trace(project, clean_id)
    except PanelErrors as error:
        return fragment_error(request, error)
    if request.GET.get("download"):
        response = HttpResponse(raw, content_type="application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="session-{clean_id}.jsonl"'
        return response
    lines = [
        TraceLine(line, restore_marker(line))
        for line in raw.decode("utf-8", errors="replace").splitlines()
    ]
    return render(
        request,
        "projects/workspace/_trace.html",
        {"project": project, "session_id": clean_id, "lines": lines, "truncated": truncated},
    )


class TraceLine(NamedTuple):
    text: str
    # For the entry that marks a checkpoint restore: what to say about it.
    restored: dict[str, str] | None


def restore_marker(line: str) -> dict[str, str] | None:
    """The readable facts of a checkpoint-restore entry (``CHECKPOINT_RESTORE_ENTRY``), or
    None for any other line. The line is the Sprite's: only strings are taken, cut short."""
    if protocol.CHECKPOINT_RESTORE_ENTRY not in line:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("customType") != protocol.CHECKPOINT_RESTORE_ENTRY:
        return None
    data = entry.get("data")
    data = data if isinstance(data, dict) else {}
    return {
        key: value[:200] if isinstance(value, str) else ""
        for key, value in (
            ("checkpoint_id", data.get("checkpoint_id")),
            ("comment", data.get("comment")),
            ("restored_at", data.get("restored_at") or entry.get("timestamp")),
        )
    }


@login_required
@require_http_methods(["GET", "POST"])
def checkpoint_list(request: HttpRequest, public_id: str) -> HttpResponse:
    """GET lists; POST creates one (with an optional comment) and lists again."""
    project = get_project_for_user(request.user, public_id, ability_of(request))
    notice = ""
    try:
        if request.method == "POST":
            checkpoint = checkpoints.create_checkpoint(
                project, text_field(payload(request), "comment")
            )
            notice = f"Checkpoint {checkpoint.id} saved."
        found = checkpoints.list_checkpoints(project)
    except PanelErrors as error:
        return fragment_error(request, error)
    return render(
        request,
        "projects/workspace/_checkpoints.html",
        {"project": project, "checkpoints": found, "notice": notice},
    )


@login_required
@require_POST
def checkpoint_restore(request: HttpRequest, public_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    try:
        checkpoint_id = text_field(payload(request), "checkpoint_id").strip()
        if not checkpoint_id:
            raise ProjectError("Choose the checkpoint to restore.")
        checkpoints.restore_checkpoint(project, checkpoint_id)
        found = checkpoints.list_checkpoints(project)
    except PanelErrors as error:
        return fragment_error(request, error)
    return render(
        request,
        "projects/workspace/_checkpoints.html",
        {
            "project": project,
            "checkpoints": found,
            "notice": f"Restored checkpoint {checkpoint_id}. The chat reloads its history.",
        },
    )
