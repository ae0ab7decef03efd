"""One failure, one status: a Sprite that cannot be reached now is a 503 (`sprite_unavailable`,
"try again later") wherever it is seen, in the REST API and in the dashboard's JSON and
fragment views alike.

The Sprite is made unreachable for real: the project runs on the Fly backend, whose Sprites
API is a local port nothing listens on.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from accounts.tokens import create_api_token
from projects.models import Project


@pytest.fixture
def sprite_api_down(settings: Any) -> None:
    """Sprites live behind a Sprites API that refuses every connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.STARTER_SPRITES_BACKEND = "fly"
    settings.STARTER_SPRITES_TOKEN = "sprites-token-for-tests"
    settings.STARTER_SPRITES_API_URL = f"http://127.0.0.1:{port}"


@pytest.fixture
def alice_program(alice: User) -> Client:
    token = create_api_token(alice, "tests")[1]
    return Client(headers={"Authorization": f"Bearer {token}"}, HTTP_HOST="localhost")


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "sprite_unavailable"
    assert response.json()["message"]


@pytest.mark.usefixtures("sprite_api_down")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "files?path=.", None),
        ("get", "files/content?path=notes.md", None),
        ("post", "exec", {"command": "ls"}),
        ("get", "checkpoints", None),
        ("get", "messages", None),
    ],
)
def test_the_api_answers_a_sprite_that_is_down_with_503(
    alice_program: Client,
    alice_project: Project,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    url = f"/api/v1/projects/{alice_project.public_id}/{path}"
    if method == "post":
        response = alice_program.post(url, body, content_type="application/json")
    else:
        response = alice_program.get(url)
    assert_unavailable(response)


@pytest.mark.usefixtures("sprite_api_down")
def test_the_dashboards_json_views_answer_a_sprite_that_is_down_with_503(
    alice_client: Client, alice_project: Project
) -> None:
    assert_unavailable(alice_client.get(f"/p/{alice_project.public_id}/agent/history/"))


@pytest.mark.usefixtures("sprite_api_down")
@pytest.mark.parametrize(
    "path", ["files/view/?path=notes.md", "logs/?path=server.log", "checkpoints/"]
)
def test_the_dashboards_panels_answer_a_sprite_that_is_down_with_503(
    alice_client: Client, alice_project: Project, path: str
) -> None:
    response = alice_client.get(f"/p/{alice_project.public_id}/{path}")
    assert response.status_code == 503, response.content
    assert b"Sprite" in response.content  # the backend's own words, not a blank panel
