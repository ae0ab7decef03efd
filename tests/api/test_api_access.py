"""Issue 6, acceptance 3: over every operation of the live schema, another user's token
gets a 404 for the project, no credentials get a 401, and general-agent tokens reach only
their operations. Plus path traversal in files, refused before any Sprite is asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from projects.models import Project
from tests.api.conftest import API, TokenClient
from tests.api.openapi_walk import Operation, operations, request_for

pytestmark = pytest.mark.django_db

GENERAL_AGENT_OPERATIONS = {
    "GET /api/v1/projects",
    "POST /api/v1/projects",
    "GET /api/v1/projects/{project_id}",
    "POST /api/v1/projects/{project_id}/exec",
    "GET /api/v1/projects/{project_id}/files",
    "GET /api/v1/projects/{project_id}/files/content",
    "PUT /api/v1/projects/{project_id}/files/content",
}


@pytest.fixture
def document() -> dict[str, Any]:
    response = Client(HTTP_HOST="localhost").get(f"{API}/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def send(client: Client, operation: Operation, document: dict[str, Any], project_id: str) -> Any:
    path, query, body = request_for(operation, document, project_id)
    if query:
        path += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return client.generic(
        operation.method.upper(),
        path,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
    )


def test_the_schema_lists_every_resource_of_the_issue(document: dict[str, Any]) -> None:
    names = {operation.name for operation in operations(document)}
    for expected in [
        "GET /api/v1/projects",
        "POST /api/v1/projects",
        "PATCH /api/v1/projects/{project_id}",
        "DELETE /api/v1/projects/{project_id}",
        "POST /api/v1/projects/{project_id}/wake",
        "POST /api/v1/projects/{project_id}/prompt",
        "GET /api/v1/projects/{project_id}/events",
        "GET /api/v1/projects/{project_id}/inspect",
        "PUT /api/v1/projects/{project_id}/secrets/{name}",
        "POST /api/v1/projects/{project_id}/checkpoints/{checkpoint_id}/restore",
        "POST /api/v1/projects/{project_id}/exec",
        "GET /api/v1/projects/{project_id}/files/content",
        "GET /api/v1/projects/{project_id}/sessions/{session_id}/trace",
        "PUT /api/v1/settings/api-keys/{provider}",
    ]:
        assert expected in names
    assert len(names) >= 38


def test_outsider_gets_404_for_every_project_operation(
    document: dict[str, Any], bob_api: TokenClient, alice_project: Project
) -> None:
    walked = [operation for operation in operations(document) if operation.is_project_scoped]
    assert len(walked) >= 30
    for operation in walked:
        response = send(bob_api, operation, document, alice_project.public_id)
        assert response.status_code == 404, (operation.name, response.content)
        assert response.json()["error"] == "not_found", operation.name
    alice_project.refresh_from_db()
    assert alice_project.status == "running" and alice_project.name == "Sales dashboard"
    assert not alice_project.secrets.exists()


def test_no_credentials_get_401_everywhere(
    document: dict[str, Any], anonymous_api: TokenClient, alice_project: Project
) -> None:
    for operation in operations(document):
        response = send(anonymous_api, operation, document, alice_project.public_id)
        assert response.status_code == 401, (operation.name, response.content)
        assert response.json()["error"] == "unauthenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["st_not-a-real-token", "not-even-the-prefix", ""])
def test_wrong_tokens_get_401(token: str, alice_project: Project) -> None:
    client = Client(HTTP_HOST="localhost", headers={"Authorization": f"Bearer {token}"})
    response = client.get(f"{API}/projects/{alice_project.public_id}")
    assert response.status_code == 401


def test_revoked_token_gets_401(alice: User, alice_project: Project) -> None:
    from accounts.tokens import create_api_token, revoke_api_token

    token, raw = create_api_token(alice, "short-lived")
    assert TokenClient(raw).get(f"{API}/projects").status_code == 200
    revoke_api_token(token)
    assert TokenClient(raw).get(f"{API}/projects").status_code == 401


def test_general_agent_token_reaches_only_its_operations(
    document: dict[str, Any], agent_token: str, alice_project: Project
) -> None:
    client = TokenClient(agent_token)
    for operation in operations(document):
        response = send(client, operation, document, alice_project.public_id)
        if operation.name in GENERAL_AGENT_OPERATIONS:
            assert response.status_code not in (401, 403), (operation.name, response.content)
        else:
            assert response.status_code == 403, (operation.name, response.content)
            assert response.json()["error"] == "insufficient_scope"
            assert "general_agent" in response.json()["message"]


def test_browser_session_works_and_needs_csrf_for_writes(
    alice: User, alice_project: Project
) -> None:
    browser = Client(enforce_csrf_checks=True, HTTP_HOST="localhost")
    browser.force_login(alice)
    listed = browser.get(f"{API}/projects")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [alice_project.public_id]

    refused = browser.patch(
        f"{API}/projects/{alice_project.public_id}",
        {"name": "Renamed"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]

    browser.get("/settings/")  # sets the csrftoken cookie, as the dashboard does
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.patch(
        f"{API}/projects/{alice_project.public_id}",
        {"name": "Renamed"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["name"] == "Renamed"


TRAVERSALS = ["../etc/passwd", "notes/../../secret", "/etc/passwd", "~/x", "a/\x00b", ".."]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused_when_reading(
    path: str, alice_api: TokenClient, alice_project: Project
) -> None:
    response = alice_api.get(
        f"{API}/projects/{alice_project.public_id}/files/content", {"path": path}
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused_when_writing(
    path: str, alice_api: TokenClient, alice_project: Project
) -> None:
    response = alice_api.put(
        f"{API}/projects/{alice_project.public_id}/files/content",
        {"path": path, "content": "x"},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"


@pytest.mark.parametrize("path", ["../", "/", "/etc", "sub/../../.."])
def test_path_traversal_is_refused_when_listing(
    path: str, alice_api: TokenClient, alice_project: Project
) -> None:
    response = alice_api.get(f"{API}/projects/{alice_project.public_id}/files", {"path": path})
    assert response.status_code == 400, response.content
