"""The browser libraries the pages load, served from node_modules (pinned by package-lock.json,
never from a CDN): only the files the pages use.

Django's FileSystemFinder serves whole directories, and highlight.js alone ships over 1,300
files in them (every language twice, 500 styles). Each static-file index (collectstatic,
WhiteNoise's in every web process, and in every test client) held all of them, about 1,500
files for the 40 the pages load.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal, overload

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

# The languages the chat colours, as the workspace page tells static/js/lib/render.js; each
# is one ES module of highlight.js.
HIGHLIGHT_LANGUAGES = (
    "bash",
    "shell",
    "python",
    "javascript",
    "typescript",
    "json",
    "css",
    "xml",
    "sql",
    "yaml",
    "ini",
    "go",
    "rust",
    "java",
    "ruby",
    "php",
    "diff",
    "markdown",
    "dockerfile",
    "plaintext",
)

# URL prefix under /static/ → (directory under node_modules, the files served from it).
# Source maps go with the files that name one, for the browser's developer tools.
VENDOR_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "vendor/htmx": ("htmx.org/dist", ("htmx.min.js",)),
    "vendor/marked": ("marked/lib", ("marked.umd.js", "marked.umd.js.map")),
    "vendor/dompurify": ("dompurify/dist", ("purify.min.js", "purify.min.js.map")),
    # Its core as CommonJS (render.js gives it a `module` to fill) and its languages as ES
    # modules: imported, never evaluated from a string.
    "vendor/highlight": ("highlight.js/lib", ("core.js",)),
    "vendor/highlight-es": (
        "highlight.js/es",
        tuple(f"languages/{name}.js" for name in HIGHLIGHT_LANGUAGES),
    ),
    "vendor/highlight-styles": ("highlight.js/styles", ("github.min.css",)),
    # The settings page's usage charts.
    "vendor/uplot": ("uplot/dist", ("uPlot.iife.min.js", "uPlot.min.css")),
    # The workspace's terminal panel (ES modules and the stylesheet).
    "vendor/xterm": ("@xterm/xterm/lib", ("xterm.mjs", "xterm.mjs.map")),
    "vendor/xterm-css": ("@xterm/xterm/css", ("xterm.css",)),
    "vendor/xterm-fit": ("@xterm/addon-fit/lib", ("addon-fit.mjs", "addon-fit.mjs.map")),
}


def node_modules() -> str:
    return str(settings.BASE_DIR / "node_modules")


class VendorFinder(BaseFinder):
    """Finds the files of VENDOR_FILES, and no other file of their directories."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.storages = {
            prefix: _storage(prefix, os.path.join(node_modules(), directory))
            for prefix, (directory, _) in VENDOR_FILES.items()
        }
        super().__init__(*args, **kwargs)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        missing = [
            f"{directory}/{name}"
            for directory, names in VENDOR_FILES.values()
            for name in names
            if not os.path.isfile(os.path.join(node_modules(), directory, name))
        ]
        if not missing:
            return []
        return [
            Error(
                f"{len(missing)} browser library files are missing from node_modules, "
                f"first {missing[0]}",
                hint="Run ./scripts/setup (it installs them with npm ci).",
                id="starter.E001",
            )
        ]

    @overload
    def find(self, path: str, find_all: Literal[False] = False) -> str | None: ...
    @overload
    def find(self, path: str, find_all: Literal[True]) -> list[str]: ...
    def find(self, path: str, find_all: bool = False) -> str | list[str] | None:
        found = self._path_of(path.replace("\\", "/"))
        if found:
            return [found] if find_all else found
        # Not None: django.contrib.staticfiles.finders.find would keep a None as a match.
        return []

    def _path_of(self, path: str) -> str | None:
        for prefix, (directory, names) in VENDOR_FILES.items():
            # A name may sit a folder down: "vendor/highlight-es/languages/go.js".
            name = path.removeprefix(prefix + "/")
            if name != path and name in names:
                full = os.path.join(node_modules(), directory, name)
                return full if os.path.isfile(full) else None
        return None

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for prefix, (directory, names) in VENDOR_FILES.items():
            storage = self.storages[prefix]
            for name in names:
                if os.path.isfile(os.path.join(node_modules(), directory, name)):
                    yield name, storage


def _storage(prefix: str, location: str) -> FileSystemStorage:
    storage = FileSystemStorage(location=location)
    # What FileSystemFinder sets too: collectstatic and WhiteNoise put the file under it.
    storage.prefix = prefix  # type: ignore[attr-defined]
    return storage
