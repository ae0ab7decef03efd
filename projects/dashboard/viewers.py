"""How the workspace's viewers show a file: its viewer kind, code language, CSV table.

Presentation only: reading the file (paths, size caps, wake policy, errors) is
``projects.sprite.files``; a view reads there and wraps the result with
``FileForViewer.of``.
"""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from projects.errors import ProjectError
from projects.sprite.files import FileContent

MAX_TABLE_ROWS = 2000

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

    @classmethod
    def of(cls, content: FileContent) -> FileForViewer:
        """The viewer for a file read whole: by its extension, or binary if it holds NULs."""
        kind = viewer_kind(content.path)
        if kind in {"text", "markdown", "csv"} and b"\x00" in content.data[:8192]:
            kind = "binary"
        return cls(path=content.path, kind=kind, data=content.data, size=content.size)

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


def viewer_kind(path: str) -> ViewerKind:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in EXTENSION_KINDS:
        return EXTENSION_KINDS[suffix]
    return "text"


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
