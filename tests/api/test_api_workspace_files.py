"""The files panel's REST operations (issue 17) on a real local Sprite: tree with the
hidden toggle, stat, streamed downloads and archives, streamed uploads, save with its
conflict check, rename and delete; another person gets 404s, bad input a 4xx, never a 500."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projects.models import Project
from projects.sprite import workspace_files
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.api.conftest import API, TokenClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(alice_project: Project, settings: Any, sprite_data_dir: Path) -> Iterator[Path]:
    """A real local Sprite (its home only, no bridge) for alice's project."""
    settings.DATA_DIR = sprite_data_dir
    backend = backend_for(alice_project)
    run_sync(backend.create(alice_project.sprite_name))
    run_sync(backend.write_file(alice_project.sprite_name, "notes/todo.md", b"# todo\n"))
    run_sync(backend.write_file(alice_project.sprite_name, ".env", b"SECRET=1\n"))
    run_sync(backend.write_file(alice_project.sprite_name, "a.txt", b"alpha"))
    root = sprite_data_dir / "sprites" / alice_project.sprite_name / "home"
    (root / "passwd").symlink_to("/etc/passwd")
    yield root


def url(project: Project, operation: str) -> str:
    return f"{API}/projects/{project.public_id}/workspace/{operation}"


def body(response: Any) -> bytes:
    with warnings.catch_warnings():
        # The test client reads an async stream synchronously; Django warns about it.
        warnings.simplefilter("ignore")
        return b"".join(response)


def test_the_tree_lists_folders_first_hides_dot_files_and_shows_links(
    alice_api: TokenClient, alice_project: Project, home: Path
) -> None:
    response = alice_api.get(url(alice_project, "tree"))
    assert response.status_code == 200, response.content
    entries = response.json()["entries"]
    assert [entry["name"] for entry in entries] == ["notes", "a.txt", "passwd"]
    link = entries[2]
    assert (link["is_link"], link["link_target"], link["is_dir"]) == (True, "/etc/passwd", False)
    hidden = alice_api.get(url(alice_project, "tree"), {"hidden": "true"}).json()["entries"]
    assert ".env" in [entry["name"] for entry in hidden]
    nested = alice_api.get(url(alice_project, "tree"), {"path": "notes"}).json()["entries"]
    assert [(entry["name"], entry["path"]) for entry in nested] == [("todo.md", "notes/todo.md")]
    assert alice_api.get(url(alice_project, "tree"), {"path": "passwd"}).status_code == 400
    assert alice_api.get(url(alice_project, "tree"), {"path": "nope"}).status_code == 404


def test_stat_and_download_stream_the_bytes_as_an_attachment(
    alice_api: TokenClient, alice_project: Project, home: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    run_sync(backend_for(alice_project).write_file(alice_project.sprite_name, "big.bin", data))
    info = alice_api.get(url(alice_project, "stat"), {"path": "big.bin"}).json()
    assert (info["size"], info["is_dir"], info["is_link"]) == (len(data), False, False)
    response = alice_api.get(url(alice_project, "download"), {"path": "big.bin"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="big.bin"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert hashlib.sha256(body(response)).digest() == hashlib.sha256(data).digest()
    # A link is shown, never followed: its download is refused.
    link = alice_api.get(url(alice_project, "download"), {"path": "passwd"})
    assert link.status_code == 400 and "link" in link.json()["message"]
    assert alice_api.get(url(alice_project, "stat"), {"path": "passwd"}).json()["is_link"]
    for bad in ("../etc/passwd", "/etc/passwd", "a\x00b", "notes"):
        assert alice_api.get(url(alice_project, "download"), {"path": bad}).status_code == 400
    assert alice_api.get(url(alice_project, "download"), {"path": "gone"}).status_code == 404


def test_the_home_and_a_folder_download_as_zips(
    alice_api: TokenClient, alice_project: Project, home: Path
) -> None:
    response = alice_api.get(url(alice_project, "archive"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert 'filename="Sales dashboard.zip"' in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(body(response))) as archive:
        assert archive.read("notes/todo.md") == b"# todo\n"
        assert archive.read("passwd") == b"/etc/passwd"  # the link itself, not the target
    folder = alice_api.get(url(alice_project, "archive"), {"path": "notes"})
    assert 'filename="notes.zip"' in folder["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(body(folder))) as archive:
        assert archive.namelist() == ["todo.md"]
    assert alice_api.get(url(alice_project, "archive"), {"path": "a.txt"}).status_code == 400
    assert alice_api.get(url(alice_project, "archive"), {"path": "passwd"}).status_code == 400


def test_uploads_are_streamed_and_limited(
    alice_api: TokenClient, alice_project: Project, home: Path, monkeypatch: Any, settings: Any
) -> None:
    # Larger than the request limit (DATA_UPLOAD_MAX_MEMORY_SIZE): the body is read in chunks.
    data = os.urandom(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024 * 1024)
    response = alice_api.put(
        url(alice_project, "upload") + "?path=in/up.bin",
        data,
        content_type="application/octet-stream",
    )
    assert response.status_code == 200, response.content
    assert response.json()["size"] == len(data)
    assert (home / "in" / "up.bin").read_bytes() == data
    monkeypatch.setattr(workspace_files, "MAX_UPLOAD_BYTES", 1024)
    too_large = alice_api.put(
        url(alice_project, "upload") + "?path=in/huge.bin",
        b"x" * 2048,
        content_type="application/octet-stream",
    )
    assert too_large.status_code == 413 and too_large.json()["error"] == "too_large"
    assert not (home / "in" / "huge.bin").exists()
    onto_link = alice_api.put(
        url(alice_project, "upload") + "?path=passwd", b"x", content_type="application/octet-stream"
    )
    assert onto_link.status_code == 400
    assert (home / "passwd").is_symlink()


def test_save_checks_for_conflicts(
    alice_api: TokenClient, alice_project: Project, home: Path
) -> None:
    opened = alice_api.get(url(alice_project, "stat"), {"path": "notes/todo.md"}).json()
    saved = alice_api.post(
        url(alice_project, "save"),
        {
            "path": "notes/todo.md",
            "content": "# done\n",
            "expected_modified_at": opened["modified_at"],
        },
        content_type="application/json",
    )
    assert saved.status_code == 200, saved.content
    assert (home / "notes" / "todo.md").read_text() == "# done\n"
    stale = alice_api.post(
        url(alice_project, "save"),
        {
            "path": "notes/todo.md",
            "content": "# mine\n",
            "expected_modified_at": opened["modified_at"],
        },
        content_type="application/json",
    )
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"
    assert "changed since it was opened" in stale.json()["message"]
    assert (home / "notes" / "todo.md").read_text() == "# done\n"
    new = alice_api.post(
        url(alice_project, "save"),
        {"path": "fresh.md", "content": "new", "expected_modified_at": None},
        content_type="application/json",
    )
    assert new.status_code == 200
    again = alice_api.post(
        url(alice_project, "save"),
        {"path": "fresh.md", "content": "other", "expected_modified_at": None},
        content_type="application/json",
    )
    assert again.status_code == 409


def test_rename_and_delete(alice_api: TokenClient, alice_project: Project, home: Path) -> None:
    def post(operation: str, payload: dict[str, Any]) -> Any:
        return alice_api.post(
            url(alice_project, operation), payload, content_type="application/json"
        )

    assert post("rename", {"source": "a.txt", "destination": "b/a.txt"}).status_code == 204
    assert (home / "b" / "a.txt").read_bytes() == b"alpha"
    clash = post("rename", {"source": "b/a.txt", "destination": "notes/todo.md"})
    assert clash.status_code == 400 and "already exists" in clash.json()["message"]
    assert post("rename", {"source": "b", "destination": "b/c"}).status_code == 400
    assert post("rename", {"source": "missing", "destination": "x"}).status_code == 404
    assert post("delete", {"path": "passwd"}).status_code == 204
    assert not (home / "passwd").is_symlink() and Path("/etc/passwd").exists()
    assert post("delete", {"path": "notes"}).status_code == 204
    assert not (home / "notes").exists()
    assert post("delete", {"path": "."}).status_code == 400
    assert post("delete", {"path": "../x"}).status_code == 400
    assert post("delete", {"path": "gone"}).status_code == 404


def test_another_person_gets_404s(bob_api: TokenClient, alice_project: Project, home: Path) -> None:
    for operation in ("tree", "stat", "download", "archive"):
        assert bob_api.get(url(alice_project, operation), {"path": "a.txt"}).status_code == 404
    put = bob_api.put(
        url(alice_project, "upload") + "?path=x", b"x", content_type="application/octet-stream"
    )
    assert put.status_code == 404
    for operation, payload in (
        ("save", {"path": "a.txt", "content": "x", "expected_modified_at": None}),
        ("rename", {"source": "a.txt", "destination": "b.txt"}),
        ("delete", {"path": "a.txt"}),
    ):
        response = bob_api.post(
            url(alice_project, operation), payload, content_type="application/json"
        )
        assert response.status_code == 404
    assert (home / "a.txt").read_bytes() == b"alpha"
