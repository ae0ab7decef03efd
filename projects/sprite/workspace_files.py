"""A Sprite's files as a person works on them (issue 17): the files panel, its viewers and
the REST API all call these; nothing here loads a big file whole in the web process.

The wake and activity policy is ``files``'s ``wake=False`` one (the workspace is open on a
running project; a glance at a file does not start a sleeping machine, and a read of a
running one counts as activity), except where ``wake`` is passed. Paths are checked with
``files.clean_path`` first; the backend (``sprites.backends.base.SpriteFileStreams``)
confines them to the home again and never follows a symbolic link.

Streams are made by synchronous functions (the path checked, the file looked at) and
read by async code (the views' ``StreamingHttpResponse``), so a missing file is a clear
error before the first byte.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from datetime import datetime

from asgiref.sync import sync_to_async

from projects.errors import ProjectError, from_sprite_error
from projects.models import Project
from projects.sprite.backend import backend_for
from projects.sprite.files import _ready, clean_path
from sprites.backends import FileEntry, SpriteError, run_sync
from sprites.backends.base import SpriteFileStreams, file_streams

# Uploads and saves through the dashboard and the API (streamed to the Sprite).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
# What a viewer reads at most in one piece ("shown in part" past it).
MAX_RANGE_BYTES = 8 * 1024 * 1024
# Two modification times closer than this are the same (a round trip through JSON keeps
# microseconds; some file systems and the Sprites API keep less).
_SAME_TIME_SECONDS = 0.001


def _streams(project: Project) -> SpriteFileStreams:
    streams = file_streams(backend_for(project))
    if streams is None:
        raise ProjectError("This project's machine cannot stream files.", "sprite_error")
    return streams


def _prepared(
    project: Project, path: str, *, directory: bool = False
) -> tuple[str, SpriteFileStreams]:
    """The cleaned path and the backend's file streams, after the wake and activity policy."""
    cleaned = clean_path(path.strip(), directory=directory)
    _ready(project, wake=False)
    return cleaned, _streams(project)


def _stat(streams: SpriteFileStreams, project: Project, path: str) -> FileEntry:
    try:
        return run_sync(streams.stat_file(project.sprite_name, path))
    except SpriteError as error:
        raise from_sprite_error(error) from error


def _regular_file(entry: FileEntry, path: str) -> None:
    if entry.is_link:
        raise ProjectError(
            f"{path} is a link (to {entry.link_target!r}); links are shown, never followed.",
            "invalid",
        )
    if entry.is_dir:
        raise ProjectError(f"{path} is a folder, not a file.", "invalid")


def tree(project: Project, path: str = ".", *, hidden: bool = False) -> list[FileEntry]:
    """One folder's entries (folders first, then by name); dot-files only with ``hidden``;
    links listed as links."""
    cleaned = clean_path(path.strip() or ".", directory=True)
    _ready(project, wake=False)
    try:
        entries = run_sync(backend_for(project).list_files(project.sprite_name, cleaned))
    except SpriteError as error:
        raise from_sprite_error(error) from error
    shown = [entry for entry in entries if hidden or not entry.name.startswith(".")]
    return sorted(shown, key=lambda entry: (not entry.is_dir, entry.name.lower(), entry.name))


def stat(project: Project, path: str) -> FileEntry:
    """The entry at ``path`` itself (a link is not followed); ProjectError "not_found"."""
    cleaned, streams = _prepared(project, path, directory=True)
    return _stat(streams, project, cleaned)


def read_range(
    project: Project, path: str, offset: int = 0, length: int = MAX_RANGE_BYTES
) -> bytes:
    """At most ``min(length, MAX_RANGE_BYTES)`` bytes of a file from ``offset``."""
    if offset < 0 or length < 0:
        raise ProjectError("A range has an offset and a length of at least 0.")
    cleaned, streams = _prepared(project, path)
    try:
        return run_sync(
            streams.read_file_range(
                project.sprite_name, cleaned, offset, min(length, MAX_RANGE_BYTES)
            )
        )
    except SpriteError as error:
        raise from_sprite_error(error) from error


async def _translated(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` with backend failures as ProjectErrors (a response already started can only
    be cut short, but a caller that iterates itself gets the person-facing message)."""
    try:
        async for chunk in chunks:
            yield chunk
    except SpriteError as error:
        raise from_sprite_error(error) from error
    finally:
        # A reader that goes away closes this stream: close the backend's at once too
        # (an archive's worker stops), rather than whenever it is collected.
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


def stream_file(project: Project, path: str) -> AsyncIterator[bytes]:
    """The whole file as it is read (a download of any size).

    Synchronous up to the stream itself: the path is checked and the file looked at (a
    missing file, a folder or a link is a ProjectError here, before any byte is sent);
    async callers call it through ``sync_to_async``."""
    cleaned, streams = _prepared(project, path)
    _regular_file(_stat(streams, project, cleaned), cleaned)
    return _translated(streams.stream_file(project.sprite_name, cleaned))


def stream_archive(project: Project, path: str = ".") -> AsyncIterator[bytes]:
    """A zip of the home (or a folder) made as it is sent."""
    cleaned, streams = _prepared(project, path, directory=True)
    if cleaned != ".":
        entry = _stat(streams, project, cleaned)
        if not entry.is_dir or entry.is_link:
            raise ProjectError(f"{cleaned} is not a folder.", "invalid")
    return _translated(streams.stream_archive(project.sprite_name, cleaned))


class _TooLarge(Exception):
    pass


async def _counted(chunks: AsyncIterator[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise _TooLarge
        yield chunk


def _too_large(max_bytes: int) -> ProjectError:
    return ProjectError(
        f"A file uploaded here has at most {max_bytes // 1024 // 1024} MB.", "too_large"
    )


async def upload(
    project: Project, path: str, chunks: AsyncIterator[bytes], *, max_bytes: int = MAX_UPLOAD_BYTES
) -> FileEntry:
    """Create or replace a file from a stream; over ``max_bytes`` → ProjectError "too_large"."""
    cleaned, streams = await sync_to_async(_prepared)(project, path)
    try:
        return await streams.write_file_stream(
            project.sprite_name, cleaned, _counted(chunks, max_bytes), max_bytes
        )
    except _TooLarge:
        raise _too_large(max_bytes) from None
    except SpriteError as error:
        raise from_sprite_error(error) from error


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def save_text(
    project: Project, path: str, data: bytes, *, expected_modified_at: datetime | None
) -> FileEntry:
    """Save an edited file unless it changed since it was opened: when its modification time
    is not ``expected_modified_at`` (None: the file must not exist yet), ProjectError
    "conflict" (409) saying so, and nothing is written."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise _too_large(MAX_UPLOAD_BYTES)
    cleaned, streams = _prepared(project, path)
    try:
        current: FileEntry | None = run_sync(streams.stat_file(project.sprite_name, cleaned))
    except SpriteError as error:
        if error.path_problem != "missing":
            raise from_sprite_error(error) from error
        current = None
    if current is not None:
        _regular_file(current, cleaned)
    if not _same_version(current, expected_modified_at):
        raise ProjectError(
            f"{cleaned} changed since it was opened"
            + ("" if current is not None else " (it was deleted)")
            + ". Reload it to see the new version, or overwrite it with yours.",
            "conflict",
        )
    try:
        return run_sync(
            streams.write_file_stream(project.sprite_name, cleaned, _once(data), MAX_UPLOAD_BYTES)
        )
    except SpriteError as error:
        raise from_sprite_error(error) from error


def _same_version(current: FileEntry | None, expected: datetime | None) -> bool:
    if current is None or expected is None:
        return current is None and expected is None
    if current.modified_at is None:
        return False
    return abs((current.modified_at - expected).total_seconds()) < _SAME_TIME_SECONDS


def rename(project: Project, source: str, destination: str) -> None:
    """Move a file or folder to ``destination``; never replaces what is there."""
    source_path, streams = _prepared(project, source)
    destination_path = clean_path(destination.strip())
    if destination_path == source_path:
        raise ProjectError("The new name is the same as the old one.")
    if (destination_path + "/").startswith(source_path + "/"):
        raise ProjectError("A folder cannot be moved into itself.")
    try:
        run_sync(streams.rename_file(project.sprite_name, source_path, destination_path))
    except SpriteError as error:
        raise from_sprite_error(error) from error


def delete(project: Project, path: str) -> None:
    """Remove a file, a link (never what it points to) or a folder with all it holds."""
    cleaned, streams = _prepared(project, path)
    try:
        run_sync(streams.delete_file(project.sprite_name, cleaned))
    except SpriteError as error:
        raise from_sprite_error(error) from error


def parent_of(path: str) -> str:
    return posixpath.dirname(path) or "."
