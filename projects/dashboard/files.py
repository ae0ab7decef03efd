"""JSON endpoints (and streamed downloads and uploads) behind the workspace's Files panel
(``static/js/workspace/panels/files.js``, issue 17).

Each view finds the project through ``get_project_for_user`` (another person's project is a
404), calls one function of ``projects.sprite.workspace_files`` (the REST API calls the same
ones) and answers JSON; refusals answer ``{"error", "message"}`` with their 4xx.
Downloads and uploads are async views: nothing big is ever held in the web process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from organisations.roles import Ability
from projects.dashboard.agent import errors_as_json
from projects.dashboard.http import BadRequest, json_error, payload, text_field
from projects.errors import ProjectError
from projects.lookup import get_project_for_user
from projects.models import Project
from projects.sprite import workspace_files
from projects.sprite.file_responses import (
    attachment,
    check_upload_length,
    download_name,
    request_chunks,
)
from sprites.backends import FileEntry

# The editor opens text files up to this size; bigger ones open in a viewer (in part).
MAX_EDIT_BYTES = 2 * 1024 * 1024


def entry_json(entry: FileEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "path": entry.path,
        "is_dir": entry.is_dir,
        "size": entry.size,
        "modified_at": entry.modified_at.isoformat() if entry.modified_at else None,
        "is_link": entry.is_link,
        "link_target": entry.link_target,
    }


def _flag(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


@login_required
@require_GET
@errors_as_json
def tree(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    path = request.GET.get("path") or "."
    entries = workspace_files.tree(project, path, hidden=_flag(request.GET.get("hidden")))
    return JsonResponse({"path": path, "entries": [entry_json(entry) for entry in entries]})


@login_required
@require_GET
@errors_as_json
def stat(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id)
    return JsonResponse(entry_json(workspace_files.stat(project, request.GET.get("path", ""))))


@login_required
@require_GET
@errors_as_json
def text(request: HttpRequest, public_id: str) -> JsonResponse:
    """A text file for the editor, with the modification time its save is checked against."""
    project = get_project_for_user(request.user, public_id)
    path = request.GET.get("path", "")
    entry = workspace_files.stat(project, path)
    if entry.is_link or entry.is_dir:
        raise ProjectError(f"{entry.path} is not a file that can be edited.")
    if entry.size > MAX_EDIT_BYTES:
        raise ProjectError(
            f"{entry.path} is larger than {MAX_EDIT_BYTES // 1024 // 1024} MB; open it in a "
            "viewer or download it instead.",
            "too_large",
        )
    data = workspace_files.read_range(project, entry.path, 0, MAX_EDIT_BYTES)
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(
            f"{entry.path} is not UTF-8 text; open it in a viewer or download it."
        ) from None
    return JsonResponse({"entry": entry_json(entry), "content": content})


def _expected(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("'expected_modified_at' must be a date and time or null.")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest("'expected_modified_at' is not a date and time.") from None


@login_required
@require_POST
@errors_as_json
def save(request: HttpRequest, public_id: str) -> JsonResponse:
    """Saves unless the file changed since it was opened (409 ``conflict``); to overwrite,
    the editor sends the file's current modification time (``overwrite``)."""
    project = get_project_for_user(request.user, public_id, Ability.USE)
    data = payload(request)
    path = text_field(data, "path")
    content = text_field(data, "content")
    expected = _expected(data.get("expected_modified_at"))
    if data.get("overwrite") is True:
        try:
            expected = workspace_files.stat(project, path).modified_at
        except ProjectError as error:
            if error.code != "not_found":
                raise
            expected = None
    entry = workspace_files.save_text(
        project,
        path,
        content.encode("utf-8", errors="surrogatepass"),
        expected_modified_at=expected,
    )
    return JsonResponse(entry_json(entry))


@login_required
@require_POST
@errors_as_json
def rename(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    data = payload(request)
    workspace_files.rename(project, text_field(data, "source"), text_field(data, "destination"))
    return JsonResponse({"ok": True})


@login_required
@require_POST
@errors_as_json
def delete(request: HttpRequest, public_id: str) -> JsonResponse:
    project = get_project_for_user(request.user, public_id, Ability.USE)
    workspace_files.delete(project, text_field(payload(request), "path"))
    return JsonResponse({"ok": True})


# -- streams ----------------------------------------------------------------------------


def _project(request: HttpRequest, public_id: str, ability: Ability = Ability.VIEW) -> Project:
    return get_project_for_user(request.user, public_id, ability)


def _download(request: HttpRequest, public_id: str) -> StreamingHttpResponse:
    project = _project(request, public_id)
    path = request.GET.get("path", "")
    chunks = workspace_files.stream_file(project, path)
    return attachment(chunks, download_name(path), "application/octet-stream")


def _archive(request: HttpRequest, public_id: str) -> StreamingHttpResponse:
    project = _project(request, public_id)
    path = request.GET.get("path") or "."
    chunks = workspace_files.stream_archive(project, path)
    name = download_name(path, archive=True, home_name=project.name)
    return attachment(chunks, name, "application/zip")


@login_required
@require_GET
async def download(request: HttpRequest, public_id: str) -> HttpResponseBase:
    try:
        return await sync_to_async(_download)(request, public_id)
    except (ProjectError, BadRequest) as error:
        return json_error(error)


@login_required
@require_GET
async def archive(request: HttpRequest, public_id: str) -> HttpResponseBase:
    try:
        return await sync_to_async(_archive)(request, public_id)
    except (ProjectError, BadRequest) as error:
        return json_error(error)


@login_required
@require_http_methods(["PUT"])
async def upload(request: HttpRequest, public_id: str) -> HttpResponse:
    """The raw body is the file (``?path=``), read in chunks as it is written."""
    try:
        project = await sync_to_async(_project)(request, public_id, Ability.USE)
        check_upload_length(request, workspace_files.MAX_UPLOAD_BYTES)
        entry = await workspace_files.upload(
            project, request.GET.get("path", ""), request_chunks(request)
        )
    except (ProjectError, BadRequest) as error:
        return json_error(error)
    return JsonResponse(entry_json(entry))
