"""Archived sessions: a deleted session's file moves to ``~/.pi/archived-sessions``.

Deleting a session never loses its trace: pi's JSONL file moves (a hard link, then the old
name is removed) to ``protocol.ARCHIVED_SESSIONS_FOLDER`` beside pi's session folder, under
``<UTC timestamp>_<its name>``; pi never looks there, so the session leaves every list.

The Sprite's home is written by the agent, so any of these names may be a symbolic link
planted to send the bridge elsewhere. Every step works on directory descriptors opened
with ``O_NOFOLLOW`` from the home down, and on names inside them: a link anywhere on the
way is refused (``ArchiveRefused``), never followed, and a file is only moved if it is a
regular file. Nothing is ever overwritten: a taken archive name gets a numbered suffix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge_agent import protocol
from bridge_agent.errors import ApiError
from bridge_agent.session_files import summary_from_lines

# An archive folder this full is read no further when listed (each file is read whole).
MAX_LISTED_ARCHIVES = 500
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ArchiveRefused(ApiError):
    """A link or a non-file where the bridge expects pi's folders or a session file."""

    def __init__(self, message: str) -> None:
        super().__init__(409, "not_archivable", message)


@contextlib.contextmanager
def _folder(home: Path, *names: str, create: bool = False) -> Iterator[int]:
    """A descriptor of ``home/names…``, each step opened without following a link."""
    descriptor = os.open(home, _DIRECTORY_FLAGS)
    try:
        for name in names:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=descriptor)
            try:
                inner = os.open(name, _DIRECTORY_FLAGS, dir_fd=descriptor)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ArchiveRefused(
                        f"~/{'/'.join(names)} is a link or not a folder; the bridge does not "
                        "follow links there. Remove it and try again."
                    ) from None
                raise
            os.close(descriptor)
            descriptor = inner
        yield descriptor
    finally:
        os.close(descriptor)


def _relative_folder(config_home: Path, folder: Path) -> tuple[str, ...]:
    return folder.relative_to(config_home).parts


def _archive_parts(home: Path, session_dir: Path) -> tuple[str, ...]:
    return (*_relative_folder(home, session_dir)[:-1], protocol.ARCHIVED_SESSIONS_FOLDER)


def archive_session_file(home: Path, session_dir: Path, session_file: Path) -> str:
    """Move ``session_file`` (a file directly in ``session_dir``) to the archive folder;
    answers the archived file's name. Raises ``ArchiveRefused`` for a link."""
    if session_file.parent != session_dir or session_file.name in ("", ".", ".."):
        raise ArchiveRefused("That session's file is not in pi's session folder.")
    source_parts = _relative_folder(home, session_dir)
    archive_parts = _archive_parts(home, session_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with (
        _folder(home, *source_parts) as sessions,
        _folder(home, *archive_parts, create=True) as archive,
    ):
        try:
            found = os.stat(session_file.name, dir_fd=sessions, follow_symlinks=False)
        except FileNotFoundError:
            raise ApiError(404, "unknown_session", "That session's file is gone.") from None
        if not stat.S_ISREG(found.st_mode):
            raise ArchiveRefused(
                f"{session_file.name} is a link or not a file; the bridge does not follow it."
            )
        name = _place(session_file.name, sessions, archive, f"{stamp}_{session_file.name}")
        os.unlink(session_file.name, dir_fd=sessions)
        return name


def _place(source: str, sessions: int, archive: int, wanted: str) -> str:
    """Link ``source`` into the archive under ``wanted`` (or ``wanted-N``): never over a file."""
    # pi's files are all ``*.jsonl`` (session_files lists nothing else).
    stem = wanted.removesuffix(".jsonl")
    for attempt in range(100):
        name = wanted if attempt == 0 else f"{stem}-{attempt}.jsonl"
        try:
            os.link(source, name, src_dir_fd=sessions, dst_dir_fd=archive, follow_symlinks=False)
            return name
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                raise
            return _copy(source, sessions, archive, name)
    raise ApiError(409, "archive_full", "Too many archived files share that name; try again.")


def _copy(source: str, from_folder: int, to_folder: int, name: str) -> str:
    """For file systems without hard links: copy into a name created here (O_EXCL)."""
    reading = os.open(
        source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=from_folder
    )
    try:
        if not stat.S_ISREG(os.fstat(reading).st_mode):
            raise ArchiveRefused(f"{source} is not a file; the bridge does not copy it.")
        writing = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=to_folder
        )
        with os.fdopen(reading, "rb", closefd=False) as src, os.fdopen(writing, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    finally:
        os.close(reading)
    return name


def list_archived(home: Path, session_dir: Path) -> list[dict[str, Any]]:
    """The archived sessions, newest archive first: ``{"file", "id", "name", "created",
    "archived_at", "message_count", "size"}``. Links and unreadable files are skipped."""
    archive_parts = _archive_parts(home, session_dir)
    listed: list[dict[str, Any]] = []
    try:
        with _folder(home, *archive_parts) as archive:
            names = sorted(
                (name for name in os.listdir(archive) if name.endswith(".jsonl")), reverse=True
            )
            for name in names[:MAX_LISTED_ARCHIVES]:
                entry = _describe(archive, name)
                if entry is not None:
                    listed.append(entry)
    except FileNotFoundError:
        return []
    return listed


def _describe(archive: int, name: str) -> dict[str, Any] | None:
    try:
        # O_NONBLOCK: opening a FIFO the agent planted would otherwise wait for a writer.
        descriptor = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=archive
        )
    except OSError:
        return None  # a link (ELOOP) or gone
    with os.fdopen(descriptor, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            return None
        summary = summary_from_lines(Path(name), handle, found.st_mtime)
    if summary is None:
        return None
    archived_at = datetime.fromtimestamp(found.st_ctime, UTC).isoformat(timespec="seconds")
    return {
        "file": name,
        "id": summary.id,
        "name": summary.name,
        "created": summary.created,
        "archived_at": archived_at.replace("+00:00", "Z"),
        "message_count": summary.message_count,
        "size": found.st_size,
    }


# -- restoring -----------------------------------------------------------------------------------

_ARCHIVED_FILE = re.compile(protocol.ARCHIVED_FILE_PATTERN)
# The stamp archive_session_file puts before the session file's own name.
_STAMP = re.compile(r"^[0-9]{8}T[0-9]{12}Z_")


def checked_archive_name(name: object) -> str:
    """``name`` if it is an archived file's name (protocol.ARCHIVED_FILE_PATTERN), else 400."""
    if not isinstance(name, str) or not _ARCHIVED_FILE.match(name):
        raise ApiError(
            400, "invalid_field", "'file' must name an archived session; see the archived list."
        )
    return name


def describe_archived(home: Path, session_dir: Path, name: str) -> dict[str, Any]:
    """One archived session, as ``list_archived`` lists it; 404 when ``name`` is not one (gone,
    a link, not a file, not a pi session)."""
    try:
        with _folder(home, *_archive_parts(home, session_dir)) as archive:
            entry = _describe(archive, checked_archive_name(name))
    except FileNotFoundError:
        entry = None
    if entry is None:
        raise ApiError(404, "unknown_archive", f"No archived session is named {name}.")
    return entry


def restore_archived_file(home: Path, session_dir: Path, name: str) -> str:
    """Move the archived file ``name`` back into pi's session folder under the name it had
    there; answers that name. Never over a file (409), never through a link (409)."""
    restored = _STAMP.sub("", checked_archive_name(name), count=1)
    with (
        _folder(home, *_archive_parts(home, session_dir)) as archive,
        _folder(home, *_relative_folder(home, session_dir), create=True) as sessions,
    ):
        try:
            found = os.stat(name, dir_fd=archive, follow_symlinks=False)
        except FileNotFoundError:
            raise ApiError(
                404, "unknown_archive", f"No archived session is named {name}."
            ) from None
        if not stat.S_ISREG(found.st_mode):
            raise ArchiveRefused(f"{name} is a link or not a file; the bridge does not follow it.")
        try:
            os.link(name, restored, src_dir_fd=archive, dst_dir_fd=sessions, follow_symlinks=False)
        except FileExistsError:
            raise ApiError(
                409,
                "session_file_exists",
                f"pi's session folder has a file named {restored} again; rename or delete it "
                "first.",
            ) from None
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                raise
            try:
                _copy(name, archive, sessions, restored)
            except FileExistsError:
                raise ApiError(
                    409, "session_file_exists", f"pi's session folder has {restored} again."
                ) from None
        # The name was checked before the link: a link swapped in since then came along as
        # a link. It is taken back out, and the archive keeps its entry.
        if not stat.S_ISREG(os.stat(restored, dir_fd=sessions, follow_symlinks=False).st_mode):
            os.unlink(restored, dir_fd=sessions)
            raise ArchiveRefused(f"{name} turned into a link; the bridge does not follow it.")
        os.unlink(name, dir_fd=archive)
        return restored
