"""Issue 11, "untrusted content never scripts the dashboard": every page Django serves carries
a strict Content-Security-Policy, responses with a policy of their own keep it, and no
template needs inline script or style to work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from projects.models import Project

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def directives(response: object) -> dict[str, str]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        found[name] = value
    return found


def assert_strict(policy: dict[str, str]) -> None:
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


@pytest.mark.parametrize("path", ["/", "/settings/", "/accounts/password/change/"])
def test_signed_in_pages_carry_the_strict_policy(alice_client: Client, path: str) -> None:
    response = alice_client.get(path)
    assert response.status_code == 200
    assert_strict(directives(response))


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/admin/login/"]
)
def test_sign_in_pages_carry_the_strict_policy(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert_strict(directives(response))


def test_project_page_allows_its_websocket_and_the_preview_origin(
    alice_client: Client, alice_project: Project
) -> None:
    response = alice_client.get(f"/p/{alice_project.public_id}/", HTTP_HOST="127.0.0.1:8123")
    assert response.status_code == 200
    policy = directives(response)
    assert_strict(policy)
    assert policy["connect-src"] == "'self' ws://127.0.0.1:8123 wss://127.0.0.1:8123"
    assert policy["frame-src"] == f"'self' *.{settings.STARTER_PREVIEW_DOMAIN}:*"
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_errors_and_json_carry_the_policy_too(alice_client: Client, bob: User) -> None:
    assert_strict(directives(alice_client.get("/p/no-such-project/")))
    assert_strict(directives(alice_client.get("/palette.json")))


def test_api_docs_need_no_relaxation(client: Client) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert_strict(directives(response))


def test_a_response_with_its_own_policy_keeps_it(
    alice_client: Client, alice_project: Project, settings: object, sprite_data_dir: Path
) -> None:
    from projects.dashboard.panels import RAW_IMAGE_POLICY
    from projects.sprite.backend import backend_for
    from sprites.backends import run_sync

    settings.DATA_DIR = sprite_data_dir  # type: ignore[attr-defined]
    run_sync(backend_for(alice_project).create(alice_project.sprite_name))
    home = sprite_data_dir / "sprites" / alice_project.sprite_name / "home"
    (home / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    response = alice_client.get(f"/p/{alice_project.public_id}/files/raw/", {"path": "logo.svg"})
    assert response["Content-Security-Policy"] == RAW_IMAGE_POLICY


def test_other_protective_headers_are_set(alice_client: Client) -> None:
    response = alice_client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


# -- templates never need inline script or style --------------------------------------------

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE | re.DOTALL)


def template_files() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_are_found() -> None:
    assert len(template_files()) > 10


def template_name(path: Path) -> str:
    return str(path.relative_to(TEMPLATES))


@pytest.mark.parametrize("template", template_files(), ids=template_name)
def test_template_has_no_inline_script_handler_or_style(template: Path) -> None:
    text = template.read_text()
    for attributes in SCRIPT_TAG.findall(text):
        # External files only; json_script's data blocks are the one other kind allowed.
        assert "src=" in attributes or 'type="application/json"' in attributes, (
            f"{template}: inline <script{attributes}>"
        )
    assert not EVENT_HANDLER.search(text), f"{template}: an on…= event handler"
    assert not STYLE_ATTRIBUTE.search(text), f"{template}: a style=… attribute"
    assert "<style" not in text.lower(), f"{template}: a <style> element"


def test_the_scanner_catches_what_it_looks_for() -> None:
    assert EVENT_HANDLER.search('<form id="x" onsubmit="return false">')
    assert EVENT_HANDLER.search('<img\n  src="a" onerror="b">')
    assert not EVENT_HANDLER.search('<button data-open="x">Open</button>')
    assert STYLE_ATTRIBUTE.search('<div class="card" style="max-width:560px">')
    assert SCRIPT_TAG.findall("<script>alert(1)</script>") == [""]
