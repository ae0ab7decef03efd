"""Reading, writing and listing files in a project's Sprite, confined to its home: the one
file module, for the REST API, the general agent and the dashboard's viewers and log panels.

Paths are checked here (``clean_path``) before any backend is asked, so a person gets a
clear message for ``../``, a NUL or (where only relative paths are taken) an absolute path;
the backends confine again (and resolve symbolic links, which only they can see), and
their refusals come back through ``from_sprite_error``, as the same kind of error.

**Wake and activity.** Each read takes an explicit ``wake``:

- ``wake=True`` (the API and the general agent, which ask on purpose for a Sprite's
  files): a sleeping Sprite is woken first and any other non-running project is refused,
  exactly like exec and the agent's commands.
- ``wake=False`` (the dashboard's viewers and log tails): the Sprite is read as it is, so a
  failed project's files and logs stay readable for debugging, and a glance at a file does
  not start a sleeping machine.

Either way a read of a *running* Sprite counts as activity (``touch``): a person reading
files in the workspace keeps the Sprite from being put to sleep for idleness under them.
Writes and listings for the API always wake.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath

from projects.errors import ProjectError, from_sprite_error
from projects.lifecycle.activity import ensure_running, touch
from projects.models import Project, Status
from projects.sprite.backend import backend_for
from sprites.backends import FileEntry, SpriteError, run_sync

MAX_PATH_CHARACTERS = 1024
# Larger files are for exec (tar, split) rather than one JSON answer.
MAX_FILE_BYTES = 4 * 1024 * 1024
# What the dashboard's viewers show; bigger files are refused before they are read.
MAX_VIEW_BYTES = 5 * 1024 * 1024
LOG_TAIL_BYTES = 64 * 1024
# Below this a log is read whole and cut; above it only its tail is read, in the Sprite.
LOG_READ_WHOLE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileContent:
    """A whole file read for a person: its cleaned path, bytes and size."""

    path: str
    data: bytes
    size: int


@dataclass(frozen=True)
class LogTail:
    path: str
    text: str
    size: int
    truncated: bool


def clean_path(path: str, *, absolute_ok: bool = False, directory: bool = False) -> str:
    """A path into the home, normalised, or a ProjectError saying what is wrong with it.

    Relative to the home; with ``absolute_ok`` also absolute (the inspect DB records assets
    either way, and the backend confines an absolute path to the home just the same).
    Never ``..``, control characters or more than ``MAX_PATH_CHARACTERS``; ``.`` (the home
    itself) only for a ``directory``.
    """
    if not path:
        if absolute_ok:
            raise ProjectError("Give the path of a file in the project's machine, e.g. report.md.")
        raise ProjectError("Give a path relative to the project's home, e.g. 'src/app.py'.")
    if not absolute_ok and path.startswith(("/", "~")):
        raise ProjectError(
            f"{path!r} is an absolute path; give a path relative to the project's home."
        )
    if len(path) > MAX_PATH_CHARACTERS:
        raise ProjectError(f"A path has at most {MAX_PATH_CHARACTERS} characters.")
    if any(ord(character) < 32 for character in path):
        raise ProjectError("A path cannot contain NUL or other control characters.")
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise ProjectError(f"{path!r} cannot contain '..'; give a path inside the project's home.")
    cleaned = str(pure)
    if cleaned in {".", "/"} and not directory:
        raise ProjectError("Give a file path, not the home directory itself.")
    return cleaned


def _ready(project: Project, *, wake: bool) -> None:
    """The wake and activity policy of the module docstring."""
    if wake:
        ensure_running(project)
    elif not project.sprite_name:
        raise ProjectError("The project's machine does not exist yet; wait until it is running.")
    if project.status == Status.RUNNING:
        touch(project)


def _read(project: Project, path: str) -> bytes:
    try:
        return run_sync(backend_for(project).read_file(project.sprite_name, path))
    except SpriteError as error:
        raise from_sprite_error(error) from error


def _list(project: Project, path: str) -> list[FileEntry]:
    try:
        return run_sync(backend_for(project).list_files(project.sprite_name, path))
    except SpriteError as error:
        raise from_sprite_error(error) from error


def read_file(project: Project, path: str) -> bytes:
    """A file for a program (relative path, the Sprite woken), up to ``MAX_FILE_BYTES``."""
    path = clean_path(path)
    _ready(project, wake=True)
    data = _read(project, path)
    if len(data) > MAX_FILE_BYTES:
        raise ProjectError(
            f"{path} has {len(data)} bytes, more than the {MAX_FILE_BYTES} this API returns; "
            "split or compress it with a command first.",
            "too_large",
        )
    return data


def write_file(project: Project, path: str, data: bytes) -> int:
    """Create or replace a file (and its missing parent directories); returns its size."""
    path = clean_path(path)
    if len(data) > MAX_FILE_BYTES:
        raise ProjectError(
            f"A file written through the API has at most {MAX_FILE_BYTES} bytes.", "too_large"
        )
    _ready(project, wake=True)
    try:
        run_sync(backend_for(project).write_file(project.sprite_name, path, data))
    except SpriteError as error:
        raise from_sprite_error(error) from error
    return len(data)


def list_directory(project: Project, path: str = ".") -> list[FileEntry]:
    path = clean_path(path, directory=True)
    _ready(project, wake=True)
    return _list(project, path)


def file_size(project: Project, path: str) -> int:
    """The size of the file at a cleaned ``path``, from a listing of its directory (nothing
    is read). The caller has applied the wake policy (``_ready``)."""
    directory = posixpath.dirname(path.rstrip("/")) or "."
    name = posixpath.basename(path.rstrip("/"))
    for entry in _list(project, directory):
        if entry.name == name:
            if entry.is_dir:
                raise ProjectError(f"{path} is a folder, not a file.")
            return entry.size
    raise ProjectError(f"There is no file {path} in the project's machine.", "not_found")


def read_for_person(
    project: Project, path: str, *, max_bytes: int = MAX_VIEW_BYTES, wake: bool = False
) -> FileContent:
    """A whole file for the dashboard's viewers (relative or absolute path), refused before
    it is read when it is larger than ``max_bytes``."""
    path = clean_path(path.strip(), absolute_ok=True)
    _ready(project, wake=wake)
    size = file_size(project, path)
    if size > max_bytes:
        raise ProjectError(
            f"{path} is {size / 1024 / 1024:.1f} MB; files up to "
            f"{max_bytes // 1024 // 1024} MB can be viewed here.",
            "too_large",
        )
    return FileContent(path=path, data=_read(project, path), size=size)


def tail_log(
    project: Project, path: str, max_bytes: int = LOG_TAIL_BYTES, *, wake: bool = False
) -> LogTail:
    """The end of a log file, decoded leniently, cut at a line start."""
    path = clean_path(path.strip(), absolute_ok=True)
    _ready(project, wake=wake)
    size = file_size(project, path)
    if size <= LOG_READ_WHOLE_BYTES:
        data = _read(project, path)[-max_bytes:]
    else:
        try:
            result = run_sync(
                backend_for(project).exec(
                    project.sprite_name, ["tail", "-c", str(max_bytes), "--", path], timeout=10
                )
            )
        except SpriteError as error:
            raise from_sprite_error(error) from error
        data = result.stdout
    truncated = size > len(data)
    if truncated and b"\n" in data:
        data = data[data.find(b"\n") + 1 :]
    return LogTail(
        path=path, text=data.decode("utf-8", errors="replace"), size=size, truncated=truncated
    )
