"""How the workspace's viewers show a file: its viewer kind, code language, what part of it
is read, and the tables of a CSV.

Reading goes through ``projects.sprite.workspace_files`` (paths, wake policy, errors):
``open_file`` asks for the file's size first, then reads only what its viewer shows, so no
file is refused for its size. A text over ``MAX_TEXT_BYTES`` shows its beginning (a log:
its end) with a note saying how much of it is shown; spreadsheets and databases are read
whole up to ``MAX_WHOLE_BYTES``; every viewer has a download button for the whole file.

Nothing the Sprite wrote is shown as live markup on the dashboard's origin: text is escaped
by the templates, Markdown goes through the browser's marked + DOMPurify, images and PDFs
are served raw as sandboxed documents (``panels.file_raw``), and an HTML page is framed
from the preview origin, sandboxed (``projects.preview.raw_files``).
"""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Literal

from projects.errors import ProjectError
from projects.models import Project
from projects.sprite import files, workspace_files

MAX_TABLE_ROWS = 2000
# Text (code, Markdown, CSV, logs) shown at once; a larger file is shown in part.
MAX_TEXT_BYTES = 1024 * 1024
# Files a viewer needs whole (images, PDFs, spreadsheets, databases); larger ones are
# described and downloaded.
MAX_WHOLE_BYTES = 32 * 1024 * 1024
# Larger code is shown uncoloured.
MAX_HIGHLIGHT_BYTES = 256 * 1024
# Texts whose end matters more than their beginning.
TAIL_SUFFIXES = {".log", ".out", ".err"}
WHOLE_KINDS = {"image", "pdf", "xlsx", "sqlite"}

ViewerKind = Literal["markdown", "text", "image", "pdf", "csv", "html", "xlsx", "sqlite", "binary"]

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
    ".html": "html",
    ".htm": "html",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
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
    data: bytes  # what is shown: the whole file, or the part ``offset`` starts
    size: int  # the whole file's
    offset: int = 0

    @classmethod
    def of(cls, path: str, data: bytes, size: int, offset: int = 0) -> FileForViewer:
        """The viewer for (part of) a file: by its extension, or binary if it holds NULs."""
        kind = viewer_kind(path)
        if kind in {"text", "markdown", "csv"} and b"\x00" in data[:8192]:
            kind = "binary"
        return cls(path=path, kind=kind, data=data, size=size, offset=offset)

    @property
    def partial(self) -> bool:
        return self.offset > 0 or len(self.data) < self.size

    @property
    def too_large(self) -> bool:
        """A file its viewer needs whole but that is too big for it (described, downloaded)."""
        return self.kind in WHOLE_KINDS and self.size > MAX_WHOLE_BYTES

    @property
    def part_note(self) -> str:
        """What part of the file is shown, when it is not all of it."""
        if self.too_large:
            return (
                f"This file is {_size(self.size)}; files up to {_size(MAX_WHOLE_BYTES)} are "
                "shown here. Download it to open it."
            )
        if not self.partial:
            return ""
        where = "last" if self.offset > 0 else "first"
        return f"Showing the {where} {_size(len(self.data))} of {_size(self.size)}."

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
    def code_class(self) -> str:
        """highlight.js's class for the text: its language when known and the text is small
        enough to colour quickly, else ``nohighlight`` (guessing the language of a big log
        would hold the page for seconds)."""
        if self.language and len(self.data) <= MAX_HIGHLIGHT_BYTES:
            return f"language-{self.language}"
        return "nohighlight"

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


def _size(count: int) -> str:
    """Sizes in the notes, as a person reads them: 1 MB, 50 MB, 1.5 MB, 300 KB."""
    if count >= 1000 * 1024:
        return f"{count / 1024 / 1024:.1f}".removesuffix(".0") + " MB"
    if count >= 1024:
        return f"{count // 1024} KB"
    return f"{count} bytes"


def read_whole(project: Project, path: str, size: int) -> bytes:
    """A file of at most ``MAX_WHOLE_BYTES``, in pieces of ``MAX_RANGE_BYTES``."""
    pieces: list[bytes] = []
    offset = 0
    while offset < min(size, MAX_WHOLE_BYTES):
        piece = workspace_files.read_range(project, path, offset, workspace_files.MAX_RANGE_BYTES)
        if not piece:
            break
        pieces.append(piece)
        offset += len(piece)
    return b"".join(pieces)[:MAX_WHOLE_BYTES]


def open_file(project: Project, path: str) -> FileForViewer:
    """The file at ``path`` (relative or absolute), with the part of it its viewer shows."""
    path = files.clean_path(path.strip(), absolute_ok=True)
    kind = viewer_kind(path)
    if path.startswith("/"):
        # An asset the agent recorded by its absolute path: read whole, as before issue 17
        # (the streams take paths relative to the home only).
        cap = MAX_WHOLE_BYTES if kind in WHOLE_KINDS else files.MAX_VIEW_BYTES
        content = files.read_for_person(project, path, max_bytes=cap)
        file = FileForViewer.of(content.path, content.data, content.size)
        return replace(file, kind="text") if file.kind == "html" else file
    entry = workspace_files.stat(project, path)
    if entry.is_dir:
        raise ProjectError(f"{path} is a folder, not a file.")
    if entry.is_link:
        raise ProjectError(
            f"{path} is a symbolic link (to {entry.link_target!r}); links are not followed."
        )
    size = entry.size
    if kind == "html":
        # The page itself is read on the preview origin; here only its first bytes, to
        # tell whether it is text.
        head = workspace_files.read_range(project, path, 0, 8192)
        return FileForViewer(path=path, kind="html", data=head, size=size)
    if kind in WHOLE_KINDS:
        data = b"" if size > MAX_WHOLE_BYTES else read_whole(project, path, size)
        return FileForViewer(path=path, kind=kind, data=data, size=size)
    if size <= MAX_TEXT_BYTES:
        return FileForViewer.of(path, workspace_files.read_range(project, path, 0, size), size)
    if PurePosixPath(path).suffix.lower() in TAIL_SUFFIXES:
        offset = size - MAX_TEXT_BYTES
        data = workspace_files.read_range(project, path, offset, MAX_TEXT_BYTES)
        # Start at a line (and never inside a UTF-8 character).
        cut = data.find(b"\n")
        if 0 <= cut < 64 * 1024:
            offset, data = offset + cut + 1, data[cut + 1 :]
        return FileForViewer.of(path, data, size, offset)
    data = workspace_files.read_range(project, path, 0, MAX_TEXT_BYTES)
    cut = data.rfind(b"\n")
    if cut > len(data) - 64 * 1024:
        data = data[: cut + 1]
    return FileForViewer.of(path, data, size)


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
