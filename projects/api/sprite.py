"""Commands and files in a project's Sprite: thin wrappers over `sprite_exec` and
`projects.sprite.files`, which the dashboard and the general agent call too."""

from __future__ import annotations

import base64
import binascii

from django.http import HttpRequest
from ninja import Query, Router, Schema

from accounts.api_auth import GENERAL_AGENT_ACCESS, principal_of
from organisations.roles import Ability
from projects.api.rate_limit import check_rate_limit
from projects.api.schemas import (
    DirectoryOut,
    Encoding,
    ExecIn,
    ExecOut,
    FileContentOut,
    FileEntryOut,
    FileWriteIn,
    FileWrittenOut,
)
from projects.errors import ProjectError
from projects.lookup import project_for_principal
from projects.sprite import commands as sprite_exec
from projects.sprite import files as sprite_files
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["commands and files"])


@router.post(
    "/{project_id}/exec",
    response=responses({200: ExecOut}, *SPRITE_ERRORS),
    auth=GENERAL_AGENT_ACCESS,
    summary="Run a command in the Sprite",
)
def exec_command(request: HttpRequest, project_id: str, payload: ExecIn) -> ExecOut:
    """Runs in the project's home with its secrets as environment variables. A non-zero
    exit code is still a 200: look at `exit_code`. stdout and stderr are cut to 1 MiB each
    (`truncated`); a command still running at `timeout` seconds is killed (`timed_out`)."""
    project = project_for_principal(request, project_id, Ability.USE)
    check_rate_limit("exec", principal_of(request).rate_limit_key)
    outcome = sprite_exec.run_command(project, payload.command, payload.timeout)
    return ExecOut(
        exit_code=outcome.exit_code,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        timed_out=outcome.timed_out,
        truncated=outcome.truncated,
        duration_seconds=outcome.duration_seconds,
    )


class DirectoryQuery(Schema):
    path: str = "."


class FileQuery(Schema):
    path: str
    encoding: Encoding | None = None


@router.get(
    "/{project_id}/files",
    response=responses({200: DirectoryOut}, *SPRITE_ERRORS),
    auth=GENERAL_AGENT_ACCESS,
    summary="List a directory of the Sprite's home",
)
def list_files(request: HttpRequest, project_id: str, query: Query[DirectoryQuery]) -> DirectoryOut:
    """`path` is relative to the home (default: the home itself)."""
    project = project_for_principal(request, project_id)
    entries = sprite_files.list_directory(project, query.path)
    return DirectoryOut(
        path=query.path,
        entries=[
            FileEntryOut(
                name=entry.name,
                path=entry.path,
                is_dir=entry.is_dir,
                size=entry.size,
                modified_at=entry.modified_at,
            )
            for entry in entries
        ],
    )


@router.get(
    "/{project_id}/files/content",
    response=responses({200: FileContentOut}, *SPRITE_ERRORS),
    auth=GENERAL_AGENT_ACCESS,
    summary="Read a file",
)
def read_file(request: HttpRequest, project_id: str, query: Query[FileQuery]) -> FileContentOut:
    """UTF-8 text comes back as `text`, anything else as `base64` (or ask for one with
    `encoding`). Paths are relative to the home: `..`, absolute paths and symbolic links
    that lead out of the home are refused with a 400."""
    project = project_for_principal(request, project_id)
    data = sprite_files.read_file(project, query.path)
    encoding, content = _encode(data, query.encoding)
    return FileContentOut(path=query.path, encoding=encoding, content=content, size=len(data))


def _encode(data: bytes, wanted: Encoding | None) -> tuple[Encoding, str]:
    if wanted != "base64":
        try:
            return "text", data.decode("utf-8")
        except UnicodeDecodeError:
            if wanted == "text":
                raise ProjectError(
                    "The file is not UTF-8 text; read it with encoding=base64."
                ) from None
    return "base64", base64.b64encode(data).decode("ascii")


@router.put(
    "/{project_id}/files/content",
    response=responses({200: FileWrittenOut}, *SPRITE_ERRORS),
    auth=GENERAL_AGENT_ACCESS,
    summary="Write a file",
)
def write_file(request: HttpRequest, project_id: str, payload: FileWriteIn) -> FileWrittenOut:
    """Creates or replaces the file and any missing parent directories."""
    project = project_for_principal(request, project_id, Ability.USE)
    if payload.encoding == "base64":
        try:
            data = base64.b64decode(payload.content, validate=True)
        except (binascii.Error, ValueError):
            raise ProjectError("'content' is not valid base64.") from None
    else:
        data = payload.content.encode("utf-8", errors="surrogatepass")
    size = sprite_files.write_file(project, payload.path, data)
    return FileWrittenOut(path=payload.path, size=size)
