"""The Files panel's dashboard endpoints (issue 17) on a real local Sprite: the same domain
calls as the REST API, answered as JSON; another person's project is a 404, bad input a
4xx, a stale save a 409, an upload over the limit a 413."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from projects.models import Project
from projects.sprite import workspace_files
from projects.sprite.backend import backend_for
from sprites.backends import run_sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(alice_project: Project, settings: Any, sprite_data_dir: Path) -> Iterator[Path]:
    settings.DATA_DIR = sprite_data_dir
    backend = backend_for(alice_project)
    run_sync(backend.create(alice_project.sprite_name))
    run_sync(backend.write_file(alice_project.sprite_name, "notes.md", b"# notes\n"))
    root = sprite_data_dir / "sprites" / alice_project.sprite_name / "home"
    (root / "passwd").symlink_to("/etc/passwd")
    yield root


def url(project: Project, operation: str) -> str:
    return f"/p/{project.public_id}/workspace-files/{operation}/"


def post(client: Client, project: Project, operation: str, data: dict[str, Any]) -> Any:
    return client.post(url(project, operation), json.dumps(data), content_type="application/json")


def test_tree_text_save_conflict_rename_delete(
    alice_client: Client, alice_project: Project, home: Path
) -> None:
    tree = alice_client.get(url(alice_project, "tree")).json()
    assert [(e["name"], e["is_link"]) for e in tree["entries"]] == [
        ("notes.md", False), ("passwd", True)
    ]  # fmt: skip
    opened = alice_client.get(url(alice_project, "text"), {"path": "notes.md"}).json()
    assert opened["content"] == "# notes\n"
    assert alice_client.get(url(alice_project, "text"), {"path": "passwd"}).status_code == 400
    stamp = opened["entry"]["modified_at"]
    saved = post(
        alice_client,
        alice_project,
        "save",
        {"path": "notes.md", "content": "one", "expected_modified_at": stamp},
    )
    assert saved.status_code == 200, saved.content
    stale = post(
        alice_client,
        alice_project,
        "save",
        {"path": "notes.md", "content": "two", "expected_modified_at": stamp},
    )
    assert stale.status_code == 409 and "changed since it was opened" in stale.json()["message"]
    forced = post(
        alice_client,
        alice_project,
        "save",
        {"path": "notes.md", "content": "two", "expected_modified_at": stamp, "overwrite": True},
    )
    assert forced.status_code == 200 and (home / "notes.md").read_text() == "two"
    bad = post(
        alice_client,
        alice_project,
        "save",
        {"path": "notes.md", "content": "x", "expected_modified_at": "yesterday"},
    )
    assert bad.status_code == 400
    assert post(alice_client, alice_project, "rename",
                {"source": "notes.md", "destination": "passwd"}).status_code == 400  # fmt: skip
    assert post(alice_client, alice_project, "delete", {"path": "../x"}).status_code == 400
    assert post(alice_client, alice_project, "delete", {"path": "notes.md"}).status_code == 200
    assert not (home / "notes.md").exists()


def test_downloads_and_uploads(
    alice_client: Client, alice_project: Project, home: Path, monkeypatch: Any
) -> None:
    response = alice_client.get(url(alice_project, "download"), {"path": "notes.md"})
    assert response["Content-Disposition"].startswith("attachment")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert b"".join(response) == b"# notes\n"
    refused = alice_client.get(url(alice_project, "download"), {"path": "passwd"})
    assert refused.status_code == 400
    assert alice_client.get(url(alice_project, "archive"), {"path": "nope"}).status_code == 404
    uploaded = alice_client.put(
        url(alice_project, "upload") + "?path=up.txt",
        b"hello",
        content_type="application/octet-stream",
    )
    assert uploaded.status_code == 200 and (home / "up.txt").read_bytes() == b"hello"
    monkeypatch.setattr(workspace_files, "MAX_UPLOAD_BYTES", 3)
    too_large = alice_client.put(
        url(alice_project, "upload") + "?path=big.txt",
        b"hello",
        content_type="application/octet-stream",
    )
    assert too_large.status_code == 413 and not (home / "big.txt").exists()
    assert alice_client.post(url(alice_project, "upload") + "?path=x").status_code == 405


def test_another_person_gets_404s(bob_client: Client, alice_project: Project, home: Path) -> None:
    for operation in ("tree", "stat", "text", "download", "archive"):
        assert (
            bob_client.get(url(alice_project, operation), {"path": "notes.md"}).status_code == 404
        )
    assert bob_client.put(
        url(alice_project, "upload") + "?path=x", b"x", content_type="application/octet-stream"
    ).status_code == 404  # fmt: skip
    for operation, data in (
        ("save", {"path": "notes.md", "content": "x", "expected_modified_at": None}),
        ("rename", {"source": "notes.md", "destination": "y"}),
        ("delete", {"path": "notes.md"}),
    ):
        assert post(bob_client, alice_project, operation, data).status_code == 404
    assert (home / "notes.md").read_bytes() == b"# notes\n"
