"""The files panel's operations for programs (issue 17): a folder's entries with links shown
as links, an entry's details, downloads of a file or a folder as a ``.zip`` (streamed),
streamed uploads, saving an edited file with a conflict check, rename and delete.

Thin wrappers over ``projects.sprite.workspace_files``, which the dashboard calls too.
Downloads and uploads are async views so that neither a file nor an archive is ever held
whole in the web process.
"""

from __future__ import annotations

from datetime import datetime

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from organisations.roles import Ability
from projects.api.schemas import Input
from projects.lookup import project_for_principal
from projects.models import Project
from projects.sprite import workspace_files
from projects.sprite.file_responses import (
    attachment,
    check_upload_length,
    download_name,
    request_chunks,
)
from sprites.backends import FileEntry
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["workspace files"])


class WorkspaceEntryOut(Schema):
    name: str
    path: str
    is_dir: bool
    size: int
    modified_at: datetime | None
    is_link: bool = Field(description="A symbolic link: shown as itself, never followed.")
    link_target: str = Field(description="What the link says (text from the Sprite).")


class WorkspaceTreeOut(Schema):
    path: str
    entries: list[WorkspaceEntryOut]


class WorkspaceTreeQuery(Schema):
    path: str = "."
    hidden: bool = Field(False, description="Include names starting with a dot.")


class WorkspacePathQuery(Schema):
    path: str = Field(examples=["notes/todo.md"])


class WorkspaceFolderQuery(Schema):
    path: str = Field(".", description="A folder; `.` is the whole home.")


class WorkspaceSaveIn(Input):
    path: str = Field(examples=["notes/todo.md"])
    content: str = Field(description="The new text (UTF-8).")
    expected_modified_at: datetime | None = Field(
        examples=["2026-01-31T12:00:00.123456Z"],
        description=(
            "The `modified_at` of the file as it was opened; null for a new file. When the "
            "file changed since, nothing is written and the answer is a 409 `conflict`."
        ),
    )


class WorkspaceRenameIn(Input):
    source: str
    destination: str


class WorkspaceDeleteIn(Input):
    path: str


def entry_out(entry: FileEntry) -> WorkspaceEntryOut:
    return WorkspaceEntryOut(
        name=entry.name,
        path=entry.path,
        is_dir=entry.is_dir,
        size=entry.size,
        modified_at=entry.modified_at,
        is_link=entry.is_link,
        link_target=entry.link_target,
    )


DOWNLOAD = {
    "200": {
        "description": "The bytes, as an attachment (`application/octet-stream`).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
ARCHIVE = {
    "200": {
        "description": (
            "A `.zip` made as it is sent; links are stored as links, unreadable entries are "
            "listed in `_starter-skipped.txt` inside it."
        ),
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    "/{project_id}/workspace/tree",
    response=responses({200: WorkspaceTreeOut}, *SPRITE_ERRORS),
    summary="List a folder for the files panel",
)
def tree(
    request: HttpRequest, project_id: str, query: Query[WorkspaceTreeQuery]
) -> WorkspaceTreeOut:
    """Folders first, then files, by name; dot-files only with `hidden`. Symbolic links are
    listed as links with their target, never followed."""
    project = project_for_principal(request, project_id)
    entries = workspace_files.tree(project, query.path, hidden=query.hidden)
    return WorkspaceTreeOut(path=query.path, entries=[entry_out(entry) for entry in entries])


@router.get(
    "/{project_id}/workspace/stat",
    response=responses({200: WorkspaceEntryOut}, *SPRITE_ERRORS),
    summary="Look at one file, folder or link",
)
def stat(
    request: HttpRequest, project_id: str, query: Query[WorkspacePathQuery]
) -> WorkspaceEntryOut:
    project = project_for_principal(request, project_id)
    return entry_out(workspace_files.stat(project, query.path))


def _download(request: HttpRequest, project_id: str, path: str) -> StreamingHttpResponse:
    project = project_for_principal(request, project_id)
    chunks = workspace_files.stream_file(project, path)
    return attachment(chunks, download_name(path), "application/octet-stream")


def _archive(request: HttpRequest, project_id: str, path: str) -> StreamingHttpResponse:
    project = project_for_principal(request, project_id)
    chunks = workspace_files.stream_archive(project, path)
    name = download_name(path, archive=True, home_name=project.name)
    return attachment(chunks, name, "application/zip")


@router.get(
    "/{project_id}/workspace/download",
    response=responses({}, *SPRITE_ERRORS),
    openapi_extra={"responses": DOWNLOAD},
    summary="Download a file (streamed)",
)
async def download(
    request: HttpRequest, project_id: str, query: Query[WorkspacePathQuery]
) -> StreamingHttpResponse:
    """Any size; a link is refused (400), never followed."""
    return await sync_to_async(_download)(request, project_id, query.path)


@router.get(
    "/{project_id}/workspace/archive",
    response=responses({}, *SPRITE_ERRORS),
    openapi_extra={"responses": ARCHIVE},
    summary="Download the home or a folder as a .zip (streamed)",
)
async def archive(
    request: HttpRequest, project_id: str, query: Query[WorkspaceFolderQuery]
) -> StreamingHttpResponse:
    return await sync_to_async(_archive)(request, project_id, query.path)


def _project(request: HttpRequest, project_id: str) -> Project:
    return project_for_principal(request, project_id, Ability.USE)


@router.put(
    "/{project_id}/workspace/upload",
    response=responses({200: WorkspaceEntryOut}, *SPRITE_ERRORS),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    summary="Upload a file (the raw body, streamed)",
)
async def upload(
    request: HttpRequest, project_id: str, query: Query[WorkspacePathQuery]
) -> WorkspaceEntryOut:
    """Creates or replaces the file at `path` (missing folders are made) with the request
    body, up to 200 MB (413 past it). A link or a folder at `path` is not replaced."""
    project = await sync_to_async(_project)(request, project_id)
    check_upload_length(request, workspace_files.MAX_UPLOAD_BYTES)
    entry = await workspace_files.upload(project, query.path, request_chunks(request))
    return entry_out(entry)


@router.post(
    "/{project_id}/workspace/save",
    response=responses({200: WorkspaceEntryOut}, *SPRITE_ERRORS),
    summary="Save an edited text file (conflict check)",
)
def save(request: HttpRequest, project_id: str, payload: WorkspaceSaveIn) -> WorkspaceEntryOut:
    """409 `conflict` when the file changed (or appeared, or was deleted) since it was
    opened: reload it, or save again with its current `modified_at` to overwrite."""
    project = project_for_principal(request, project_id, Ability.USE)
    entry = workspace_files.save_text(
        project,
        payload.path,
        payload.content.encode("utf-8", errors="surrogatepass"),
        expected_modified_at=payload.expected_modified_at,
    )
    return entry_out(entry)


@router.post(
    "/{project_id}/workspace/rename",
    response=responses({204: None}, *SPRITE_ERRORS),
    summary="Rename or move a file or folder",
)
def rename(request: HttpRequest, project_id: str, payload: WorkspaceRenameIn) -> tuple[int, None]:
    """Never replaces an existing `destination` (400 saying so)."""
    project = project_for_principal(request, project_id, Ability.USE)
    workspace_files.rename(project, payload.source, payload.destination)
    return 204, None


@router.post(
    "/{project_id}/workspace/delete",
    response=responses({204: None}, *SPRITE_ERRORS),
    summary="Delete a file, a link or a folder with all it holds",
)
def delete(request: HttpRequest, project_id: str, payload: WorkspaceDeleteIn) -> tuple[int, None]:
    """A link is removed itself, never what it points to."""
    project = project_for_principal(request, project_id, Ability.USE)
    workspace_files.delete(project, payload.path)
    return 204, None
