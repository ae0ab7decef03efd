"""Reading a project's files for the workspace's viewers and log panels.

Files come through the Sprite backend, which confines every path to the Sprite's home
(symbolic links included); the checks here only turn obviously bad input into a clear
message before a round trip. Sizes are capped so a 2 GB log never lands in a page.
"""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from projects.models import Project
from projects.services import ProjectError
from projects.sprite.backend import backend_for
from projects.sprite.files import check_path_text, file_error
from sprites.backends import SpriteError, run_sync

MAX_VIEW_BYTES = 5 * 1024 * 1024
MAX_TABLE_ROWS = 2000
LOG_TAIL_BYTES = 64 * 1024
# Below this a log is read whole and cut; above it only its tail is read, in the Sprite.
LOG_READ_WHOLE_BYTES = 1024 * 1024

ViewerKind = Literal["markdown", "text", "image", "pdf", "csv", "binary"]

EXTENSION_KINDS: dict[str, ViewerKind] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".webp": "image",
    ".svg": "image",
    ".pdf": "pdf",
    ".csv": "csv",
    ".tsv": "csv",
}
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
# highlight.js language names for code files (anything else is shown as plain text).
CODE_LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".jsx": "javascript",
    ".json": "json",
    ".css": "css",
    ".sh": "bash",
    ".bash": "bash",
    ".sql": "sql",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".toml": "ini",
    ".ini": "ini",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".rb": "ruby",
    ".php": "php",
    ".xml": "xml",
    ".html": "xml",
    ".htm": "xml",
    ".diff": "diff",
    ".dockerfile": "dockerfile",
}


@dataclass(frozen=True)
class FileForViewer:
    path: str
    kind: ViewerKind
    data: bytes
    size: int

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.path).suffix.lower()

    @property
    def language(self) -> str:
        return CODE_LANGUAGES.get(self.suffix, "")

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        if self.kind == "pdf":
            return "application/pdf"
        return IMAGE_TYPES.get(self.suffix, "application/octet-stream")


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    truncated: bool


@dataclass(frozen=True)
class LogTail:
    path: str
    text: str
    size: int
    truncated: bool


def clean_path(path: str) -> str:
    """Relative to the home, or absolute inside it: the inspect DB records assets either way
    (the backend confines both to the home)."""
    path = path.strip()
    if not path:
        raise ProjectError("Give the path of a file in the project's machine, e.g. report.md.")
    check_path_text(path)
    return path


def viewer_kind(path: str) -> ViewerKind:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in EXTENSION_KINDS:
        return EXTENSION_KINDS[suffix]
    return "text"


def _require_sprite(project: Project) -> None:
    if not project.sprite_name:
        raise ProjectError("The project's machine does not exist yet; wait until it is running.")


def file_size(project: Project, path: str) -> int:
    """The file's size, from a listing of its directory (nothing is read)."""
    _require_sprite(project)
    directory = posixpath.dirname(path.rstrip("/")) or "."
    name = posixpath.basename(path.rstrip("/"))
    try:
        entries = run_sync(backend_for(project).list_files(project.sprite_name, directory))
    except SpriteError as error:
        raise file_error(error) from error
    for entry in entries:
        if entry.name == name:
            if entry.is_dir:
                raise ProjectError(f"{path} is a folder, not a file.")
            return entry.size
    raise ProjectError(f"There is no file {path} in the project's machine.", "not_found")


def read_for_viewer(project: Project, path: str) -> FileForViewer:
    path = clean_path(path)
    size = file_size(project, path)
    if size > MAX_VIEW_BYTES:
        raise ProjectError(
            f"{path} is {size / 1024 / 1024:.1f} MB; files up to "
            f"{MAX_VIEW_BYTES // 1024 // 1024} MB can be viewed here.",
            "too_large",
        )
    data = _read(project, path)
    kind = viewer_kind(path)
    if kind in {"text", "markdown", "csv"} and b"\x00" in data[:8192]:
        kind = "binary"
    return FileForViewer(path=path, kind=kind, data=data, size=size)


def _read(project: Project, path: str) -> bytes:
    try:
        return run_sync(backend_for(project).read_file(project.sprite_name, path))
    except SpriteError as error:
        raise file_error(error) from error


def csv_table(file: FileForViewer) -> Table:
    delimiter = "\t" if file.suffix == ".tsv" else ","
    reader = csv.reader(io.StringIO(file.text), delimiter=delimiter)
    rows: list[list[str]] = []
    truncated = False
    try:
        for row in reader:
            if len(rows) > MAX_TABLE_ROWS:
                truncated = True
                break
            rows.append(row)
    except csv.Error as error:
        raise ProjectError(f"{file.path} is not valid CSV: {error}.") from error
    if not rows:
        return Table(header=[], rows=[], truncated=False)
    return Table(header=rows[0], rows=rows[1:], truncated=truncated)


def tail_log(project: Project, path: str, max_bytes: int = LOG_TAIL_BYTES) -> LogTail:
    """The end of a log file, decoded leniently, cut at a line start."""
    path = clean_path(path)
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
            raise ProjectError(error.message, "sprite_error") from error
        data = result.stdout
    truncated = size > len(data)
    if truncated and b"\n" in data:
        data = data[data.find(b"\n") + 1 :]
    return LogTail(
        path=path, text=data.decode("utf-8", errors="replace"), size=size, truncated=truncated
    )


def first_existing(project: Project, candidates: list[str]) -> str | None:
    """The first of `candidates` that is a file in the home (for guessing a service's log)."""
    for candidate in candidates:
        try:
            file_size(project, clean_path(candidate))
        except ProjectError:
            continue
        return candidate
    return None
