"""The workspace's server side: viewers read the Sprite's real files (local backend) with a
size cap and confined paths; agent endpoints validate input and turn every failure into a
4xx with a message; the page itself never waits on the machine and never shows a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User
from projects.models import Project, ProjectSecret, Status
from projects.sprite.backend import backend_for
from projects.sprite.files import MAX_VIEW_BYTES
from sprites.backends import run_sync

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def sprite_home(alice_project: Project, settings: object, sprite_data_dir: Path) -> Iterator[Path]:
    """A real local Sprite (its home only, no bridge) for alice's project."""
    settings.DATA_DIR = sprite_data_dir  # type: ignore[attr-defined]
    run_sync(backend_for(alice_project).create(alice_project.sprite_name))
    yield sprite_data_dir / "sprites" / alice_project.sprite_name / "home"


def view(client: Client, project: Project, path: str, raw: bool = False) -> object:
    kind = "raw" if raw else "view"
    return client.get(f"/p/{project.public_id}/files/{kind}/", {"path": path})


def test_markdown_is_sent_escaped_for_the_browser_to_render(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "notes.md").write_text("# Plan\n\n<script>alert(1)</script> **bold**\n")
    response = view(alice_client, alice_project, "notes.md")
    body = response.content.decode()  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "data-markdown-source" in body and "viewer-markdown" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body


def test_csv_becomes_a_table(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "data").mkdir()
    (sprite_home / "data" / "sales.csv").write_text('region,total\nNorth,"1,200"\nSouth,900\n')
    body = view(alice_client, alice_project, "data/sales.csv").content.decode()  # type: ignore[attr-defined]
    assert '<th scope="col">region</th>' in body
    assert "<td>1,200</td>" in body and "<td>South</td>" in body


def test_code_is_highlighted_text_never_live_html(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "page.xml").write_text("<img src=x onerror=alert(1)>")
    body = view(alice_client, alice_project, "page.xml").content.decode()  # type: ignore[attr-defined]
    assert 'class="language-xml"' in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_images_and_pdfs_are_served_raw_and_inert(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "chart.png").write_bytes(PNG)
    (sprite_home / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    )
    (sprite_home / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    png = view(alice_client, alice_project, "chart.png", raw=True)
    assert png.status_code == 200 and png.content == PNG  # type: ignore[attr-defined]
    assert png["Content-Type"] == "image/png"  # type: ignore[index]
    svg = view(alice_client, alice_project, "logo.svg", raw=True)
    assert svg["Content-Security-Policy"].startswith("sandbox")  # type: ignore[index]
    pdf = view(alice_client, alice_project, "report.pdf", raw=True)
    assert pdf["Content-Type"] == "application/pdf"  # type: ignore[index]
    assert pdf["X-Frame-Options"] == "SAMEORIGIN"  # type: ignore[index]
    # Inert like the SVG, and framed only by the workspace itself.
    assert pdf["Content-Security-Policy"].startswith("sandbox;")  # type: ignore[index]
    assert "frame-ancestors 'self'" in pdf["Content-Security-Policy"]  # type: ignore[index]
    text = view(alice_client, alice_project, "chart.png")
    assert "<img src=" in text.content.decode()  # type: ignore[attr-defined]


def test_raw_refuses_text_files(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "page.html").write_text("<script>steal()</script>")
    response = view(alice_client, alice_project, "page.html", raw=True)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert b"Only images and PDFs" in response.content  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("../secrets.txt", 400, "cannot contain '..'"),
        ("", 400, "Give the path"),
        ("missing.md", 404, "missing.md"),
        # Refused as bad input (400), as the REST API's files endpoint refuses it.
        ("/etc/passwd", 400, "outside the Sprite's home"),
    ],
)
def test_bad_paths_get_a_clear_4xx(
    alice_client: Client,
    alice_project: Project,
    sprite_home: Path,
    path: str,
    status: int,
    message: str,
) -> None:
    response = view(alice_client, alice_project, path)
    assert response.status_code == status  # type: ignore[attr-defined]
    assert message in response.content.decode().replace("&#x27;", "'")  # type: ignore[attr-defined]


def test_symlink_out_of_the_home_is_refused(
    alice_client: Client, alice_project: Project, sprite_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.txt").write_text("control plane secret")
    (sprite_home / "link.txt").symlink_to(tmp_path / "outside.txt")
    response = view(alice_client, alice_project, "link.txt")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert b"links are not followed" in response.content  # type: ignore[attr-defined]
    assert b"control plane secret" not in response.content  # type: ignore[attr-defined]


def test_files_over_the_cap_are_shown_in_part_never_refused(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "huge.txt").write_bytes(b"x" * (MAX_VIEW_BYTES + 1))
    response = view(alice_client, alice_project, "huge.txt")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert b"Showing the first 1 MB of 5 MB." in response.content  # type: ignore[attr-defined]


def test_a_log_file_is_tailed_by_its_path_and_no_service_log_is_guessed(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    """A service's own log streams from its supervisor (projects/dashboard/services.py); the
    file viewer reads only the path it is given."""
    url = f"/p/{alice_project.public_id}/logs/"
    (sprite_home / "logs").mkdir()
    (sprite_home / "logs" / "web.log").write_text("".join(f"line {n}\n" for n in range(20000)))
    guessed = alice_client.get(url, {"service": "web"}).content.decode()
    assert "line 19999" not in guessed and "Type the path of a log file" in guessed
    body = alice_client.get(url, {"path": "logs/web.log"}).content.decode()
    assert "line 19999" in body and "showing the end" in body
    assert "line 0\n" not in body


def test_agent_endpoints_explain_a_machine_that_is_not_running(
    alice_client: Client, alice_project: Project
) -> None:
    Project.objects.filter(pk=alice_project.pk).update(status=Status.BOOTSTRAPPING)
    response = alice_client.get(f"/p/{alice_project.public_id}/agent/history/")
    assert response.status_code == 409
    assert "can be reached once it is running" in response.json()["message"]


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        ("agent/send/", {"message": "   "}, "Write a message first."),
        ("agent/send/", {"message": "hi", "mode": "shout"}, "prompt, steer or follow_up"),
        ("agent/send/", {"message": "hi", "session_id": "../../etc"}, "not a session id"),
        ("agent/config/", {"model": "no-slash"}, "provider/model"),
        ("agent/config/", {"thinking_level": "galaxy"}, "Thinking level must be one of"),
        ("agent/config/", {}, "Choose a model or a thinking level"),
        ("agent/sessions/switch/", {}, "Choose the session"),
    ],
)
def test_agent_input_is_checked_before_the_bridge_is_called(
    alice_client: Client, alice_project: Project, url: str, body: dict[str, str], message: str
) -> None:
    response = alice_client.post(
        f"/p/{alice_project.public_id}/{url}", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_malformed_json_is_a_400(alice_client: Client, alice_project: Project) -> None:
    response = alice_client.post(
        f"/p/{alice_project.public_id}/agent/send/", "{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "The request body is not valid JSON."


def test_a_lone_surrogate_in_json_is_a_400(alice_client: Client, alice_project: Project) -> None:
    response = alice_client.post(
        f"/p/{alice_project.public_id}/agent/send/",
        '{"message": "hi \\ud800"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["message"]


def test_requested_secret_is_stored_and_never_echoed(
    alice_client: Client, alice_project: Project
) -> None:
    value = "sk_live_requested_by_the_agent_771"
    response = alice_client.post(
        f"/p/{alice_project.public_id}/agent/secret/",
        json.dumps({"name": "STRIPE_KEY", "value": value}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "name": "STRIPE_KEY"}
    assert ProjectSecret.objects.get(project=alice_project, name="STRIPE_KEY").value == value
    page = alice_client.get(f"/p/{alice_project.public_id}/").content.decode()
    assert "STRIPE_KEY" in page and value not in page
    bad = alice_client.post(
        f"/p/{alice_project.public_id}/agent/secret/",
        json.dumps({"name": "lower", "value": value}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and value not in bad.content.decode()


def test_workspace_page_renders_without_touching_the_machine(
    alice_client: Client, alice_project: Project
) -> None:
    # alice_project's Sprite does not exist: any bridge call would fail the render.
    page = alice_client.get(f"/p/{alice_project.public_id}/").content.decode()
    assert 'id="workspace-config"' in page
    assert f"/ws/projects/{alice_project.public_id}/" in page
    assert "data-needs-running" in page


def test_palette_lists_only_the_persons_projects(
    alice_client: Client, alice_project: Project, bob: User
) -> None:
    Project.objects.create(owner=bob, name="Bob's plan")
    names = [p["name"] for p in alice_client.get("/palette.json").json()["projects"]]
    assert names == ["Sales dashboard"]


def test_lifecycle_action_answers_json_for_scripts(
    alice_client: Client, alice_project: Project
) -> None:
    response = alice_client.post(
        f"/p/{alice_project.public_id}/actions/wake/", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 409
    assert response.json()["message"] == "Only a sleeping project can be woken."


@pytest.mark.parametrize(
    "url", ["files/view/?path=etc/passwd", "files/raw/?path=etc/hostname", "logs/?path=etc/passwd"]
)
def test_a_directory_linked_out_of_the_home_is_refused_by_every_viewer(
    alice_client: Client, alice_project: Project, sprite_home: Path, url: str
) -> None:
    # The viewers take absolute paths too (the inspect DB records them), so the one
    # clean_path is looser for them than for the API: the backend must still refuse links.
    (sprite_home / "etc").symlink_to("/etc")
    response = alice_client.get(f"/p/{alice_project.public_id}/{url}")
    assert response.status_code == 400, response.content
    assert b"root:" not in response.content


def test_a_preview_link_names_its_port_and_refuses_ports_that_are_none(
    alice_client: Client, alice_project: Project
) -> None:
    from urllib.parse import urlparse

    url = f"/p/{alice_project.public_id}/preview-link/"
    default = alice_client.get(url).json()
    assert urlparse(default["url"]).hostname == f"{alice_project.public_id}.localhost"
    port = alice_client.get(url, {"port": "5173"}).json()
    assert urlparse(port["url"]).hostname == f"{alice_project.public_id}-5173.localhost"
    assert port["port"] == 5173
    for bad in ("0", "99999", "abc", "-1", "3000.5", "0x50"):
        refused = alice_client.get(url, {"port": bad})
        assert refused.status_code == 400, bad
        assert "1 to 65535" in refused.json()["message"]


def test_service_views_refuse_bad_names_and_outsiders(
    alice_client: Client, alice_project: Project, bob: User
) -> None:
    base = f"/p/{alice_project.public_id}/services"
    assert alice_client.get(f"{base}/Web%3Cscript%3E/logs/stream/").status_code == 404
    assert alice_client.get(f"{base}/web/logs/stream/", {"lines": "0"}).status_code == 400
    outsider = Client()
    outsider.force_login(bob)
    assert outsider.get(f"{base}/web/logs/stream/").status_code == 404
    assert outsider.get(f"{base}/web/runs/").status_code == 404
    assert outsider.post(f"{base}/web/stop/").status_code == 404
    assert Client().get(f"{base}/web/logs/stream/").status_code == 302  # to the login page
