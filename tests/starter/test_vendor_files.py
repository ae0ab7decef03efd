"""The browser libraries: every file a page loads is served, and nothing else of node_modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from projects.models import Project
from starter.vendor_files import HIGHLIGHT_LANGUAGES, VENDOR_FILES, VendorFinder

ROOT = Path(__file__).resolve().parents[2]
# `{% static 'vendor/…' %}` in the templates, static("vendor/…") in the views.
VENDOR_REFERENCE = re.compile(r"""static[ (]['"](vendor/[^'"]+)['"]""")


def referenced_vendor_files() -> set[str]:
    sources = [
        *ROOT.joinpath("templates").rglob("*.html"),
        *ROOT.joinpath("projects").rglob("*.py"),
    ]
    found = {
        name
        for source in sources
        for name in VENDOR_REFERENCE.findall(source.read_text())
        # A folder the script appends names to (the highlight.js core and languages).
        if not name.endswith("/")
    }
    assert found, "the pattern found no vendor file: it no longer matches the templates"
    return found


def all_static_files() -> list[str]:
    return [path for finder in finders.get_finders() for path, _storage in finder.list(None)]


def test_every_vendor_file_a_page_names_is_served() -> None:
    referenced = referenced_vendor_files()
    assert {"vendor/htmx/htmx.min.js", "vendor/xterm/xterm.mjs"} <= referenced
    missing = [name for name in sorted(referenced) if not finders.find(name)]
    assert missing == []


def test_highlight_languages_and_core_are_served_and_no_others() -> None:
    assert finders.find("vendor/highlight/core.js")
    for name in HIGHLIGHT_LANGUAGES:
        assert finders.find(f"vendor/highlight-es/languages/{name}.js"), name
    # The other 360 languages, the CommonJS copies, the package's own files: not served.
    for name in (
        "vendor/highlight-es/languages/1c.js",
        "vendor/highlight/languages/python.js",
        "vendor/highlight/index.js",
        "vendor/highlight-styles/github-dark.css",
        "vendor/htmx/htmx.js",
        "vendor/highlight-es/languages/../../package.json",
        "vendor/highlight-es/../highlight.js/package.json",
        "vendor/../package.json",
    ):
        assert not finders.find(name), name
        assert finders.find(name, find_all=True) == [], name


def test_the_static_index_holds_tens_of_files_not_node_modules() -> None:
    # Each web process (and each test client) indexes these at start: 1,545 with whole
    # vendor folders; about 220 now, most of them the admin's.
    assert len(all_static_files()) < 300
    listed = list(VendorFinder().list(None))
    assert len(listed) == sum(len(names) for _, names in VENDOR_FILES.values()) == 34
    assert ("languages/go.js", "vendor/highlight-es") in {
        (name, getattr(storage, "prefix", None)) for name, storage in listed
    }


def test_a_missing_library_file_fails_the_system_check(monkeypatch: pytest.MonkeyPatch) -> None:
    assert VendorFinder().check() == []
    monkeypatch.setitem(VENDOR_FILES, "vendor/gone", ("no-such-package/dist", ("gone.js",)))
    (error,) = VendorFinder().check()
    assert error.id == "starter.E001"
    assert "no-such-package/dist/gone.js" in error.msg


def test_served_over_http_and_the_rest_is_a_404(client: Client) -> None:
    answer = client.get("/static/vendor/htmx/htmx.min.js")
    assert answer.status_code == 200
    assert b"htmx" in b"".join(answer.streaming_content)  # type: ignore[attr-defined]
    assert client.get("/static/vendor/highlight-es/languages/1c.js").status_code == 404
    assert client.get("/static/vendor/highlight/index.js").status_code == 404


def test_the_workspace_tells_the_page_which_languages_are_served(
    alice_client: Client, alice_project: Project
) -> None:
    page = alice_client.get(f"/p/{alice_project.public_id}/").content.decode()
    names = re.search(r'data-highlight-language-names="([^"]*)"', page)
    assert names is not None
    assert names.group(1).split(" ") == list(HIGHLIGHT_LANGUAGES)
