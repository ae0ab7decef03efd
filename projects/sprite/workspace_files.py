"""A Sprite's files as a person works on them (issue 17): the files panel, its viewers and
the REST API all call these; nothing here loads a big file whole in the web process.

The wake and activity policy is ``files``'s ``wake=False`` one (the workspace is open on a
running project; a glance at a file does not start a sleeping machine, and a read of a
running one counts as activity), except where ``wake`` is passed. Paths are checked with
``files.clean_path`` first; the backend (``sprites.backends.base.SpriteFileStreams``)
confines them to the home again and never follows a symbolic link.

(The contract of issue 17; the files work fills the bodies in.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from projects.models import Project
from sprites.backends import FileEntry

# Uploads and saves through the dashboard and the API (streamed to the Sprite).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
# What a viewer reads at most in one piece ("shown in part" past it).
MAX_RANGE_BYTES = 8 * 1024 * 1024


def tree(project: Project, path: str = ".", *, hidden: bool = False) -> list[FileEntry]:
    """One folder's entries (folders first, then by name); dot-files only with ``hidden``;
    links listed as links."""
    raise NotImplementedError


def stat(project: Project, path: str) -> FileEntry:
    """The entry at ``path`` itself (a link is not followed); ProjectError "not_found"."""
    raise NotImplementedError


def read_range(
    project: Project, path: str, offset: int = 0, length: int = MAX_RANGE_BYTES
) -> bytes:
    """At most ``min(length, MAX_RANGE_BYTES)`` bytes of a file from ``offset``."""
    raise NotImplementedError


def stream_file(project: Project, path: str) -> AsyncIterator[bytes]:
    """The whole file as it is read (a download of any size)."""
    raise NotImplementedError


def stream_archive(project: Project, path: str = ".") -> AsyncIterator[bytes]:
    """A zip of the home (or a folder) made as it is sent."""
    raise NotImplementedError


async def upload(
    project: Project, path: str, chunks: AsyncIterator[bytes], *, max_bytes: int = MAX_UPLOAD_BYTES
) -> FileEntry:
    """Create or replace a file from a stream; over ``max_bytes`` → ProjectError "too_large"."""
    raise NotImplementedError


def save_text(
    project: Project, path: str, data: bytes, *, expected_modified_at: datetime | None
) -> FileEntry:
    """Save an edited file unless it changed since it was opened: when its modification time
    is not ``expected_modified_at`` (None: the file must not exist yet), ProjectError
    "conflict" (409) saying so, and nothing is written."""
    raise NotImplementedError


def rename(project: Project, source: str, destination: str) -> None:
    raise NotImplementedError


def delete(project: Project, path: str) -> None:
    """Remove a file, a link (never what it points to) or a folder with all it holds."""
    raise NotImplementedError
