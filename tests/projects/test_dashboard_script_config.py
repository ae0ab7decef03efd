"""The dashboard's scripts take every URL they call from the page (static/js never builds one)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.test import Client

from projects.models import Project

STATIC_JS = Path(__file__).resolve().parents[2] / "static" / "js"


def json_script(page: str, element_id: str) -> dict[str, object]:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page)
    assert match, f"no #{element_id} on the page"
    return json.loads(match.group(1))


def test_workspace_config_names_the_action_project_and_home_urls(
    alice_client: Client, alice_project: Project
) -> None:
    page = alice_client.get(f"/p/{alice_project.public_id}/").content.decode()
    urls = json_script(page, "workspace-config")["urls"]
    assert isinstance(urls, dict)
    assert urls["action"] == f"/p/{alice_project.public_id}/actions/ACTION/"
    assert urls["project"] == "/p/PUBLIC_ID/"
    assert urls["home"] == "/"
    assert urls["websocket"] == f"/ws/projects/{alice_project.public_id}/"


def test_home_page_names_its_socket_and_list(alice_client: Client) -> None:
    page = alice_client.get("/").content.decode()
    assert json_script(page, "home-config") == {"urls": {"socket": "/ws/home/", "list": "/"}}


def test_palette_reads_its_urls_from_the_dialog(alice_client: Client) -> None:
    page = alice_client.get("/").content.decode()
    assert 'data-items-url="/palette.json"' in page
    assert 'data-agent-url="/agent/"' in page


def test_no_script_builds_a_control_plane_url() -> None:
    literal = re.compile(r"""["'](/p/|/ws/|/palette\.json|/agent/|/settings/)""")
    offenders = [
        f"{path.relative_to(STATIC_JS)}:{number}"
        for path in STATIC_JS.rglob("*.js")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if literal.search(line)
    ]
    assert offenders == []


def test_scripts_are_modules_loaded_from_this_origin(alice_client: Client) -> None:
    page = alice_client.get("/").content.decode()
    assert '<script type="module" src="/static/js/pages/base.js"></script>' in page
    assert '<script type="module" src="/static/js/pages/home.js"></script>' in page
