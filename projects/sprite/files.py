"""Reading, writing and listing files in a project's Sprite, confined to its home.

Paths are checked here before any backend is asked, so a person gets a clear message for
``../``, an absolute path or a NUL; the backends confine again (and resolve symbolic links,
which only they can see), and their refusals come back as the same kind of error.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from projects.lifecycle.activity import ensure_running, touch
from projects.models import Project
from projects.services import ProjectError
from projects.sprite.backend import backend_for
from sprites.backends import FileEntry, SpriteError, run_sync

MAX_PATH_CHARACTERS = 1024
# Larger files are for exec (tar, split) rather than one JSON answer.
MAX_FILE_BYTES = 4 * 1024 * 1024


def check_path_text(path: str) -> PurePosixPath:
    """The checks every path typed by a person gets, whatever it is relative to."""
    if len(path) > MAX_PATH_CHARACTERS:
        raise ProjectError(f"A path has at most {MAX_PATH_CHARACTERS} characters.")
    if any(ord(character) < 32 for character in path):
        raise ProjectError("A path cannot contain NUL or other control characters.")
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise ProjectError(f"{path!r} cannot contain '..'; give a path inside the project's home.")
    return pure


def clean_path(path: str, *, directory: bool = False) -> str:
    """A path relative to the home, normalised; ``.`` (the home) only for a directory."""
    if not path:
        raise ProjectError("Give a path relative to the project's home, e.g. 'src/app.py'.")
    if path.startswith(("/", "~")):
        raise ProjectError(
            f"{path!r} is an absolute path; give a path relative to the project's home."
        )
    cleaned = str(check_path_text(path))
    if cleaned == "." and not directory:
        raise ProjectError("Give a file path, not the home directory itself.")
    return cleaned


def file_error(error: SpriteError) -> ProjectError:
    """A backend's refusal as the error a person or program sees (with its API code)."""
    if error.retryable:
        return ProjectError(error.message, "sprite_unavailable")
    lowered = error.message.lower()
    if "no file" in lowered or "no directory" in lowered or "no such file" in lowered:
        return ProjectError(error.message, "not_found")
    refusals = (
        *("outside", "'..'", "directory, not a file", "invalid path", "not the home"),
        *("symbolic link", "not a regular file", "not a directory"),
    )
    if any(refusal in lowered for refusal in refusals):
        return ProjectError(error.message, "invalid")
    return ProjectError(error.message, "sprite_error")


def _ready(project: Project) -> None:
    ensure_running(project)
    touch(project)


def read_file(project: Project, path: str) -> bytes:
    path = clean_path(path)
    _ready(project)
    try:
        data = run_sync(backend_for(project).read_file(project.sprite_name, path))
    except SpriteError as error:
        raise file_error(error) from error
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
    _ready(project)
    try:
        run_sync(backend_for(project).write_file(project.sprite_name, path, data))
    except SpriteError as error:
        raise file_error(error) from error
    return len(data)


def list_directory(project: Project, path: str = ".") -> list[FileEntry]:
    path = clean_path(path, directory=True)
    _ready(project)
    try:
        return run_sync(backend_for(project).list_files(project.sprite_name, path))
    except SpriteError as error:
        raise file_error(error) from error
