"""One error shape everywhere, request size limits, and per-token rate limits (429 with
Retry-After) on the agent and exec operations."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict

from accounts.models import User
from accounts.tokens import create_api_token
from projects.api.rate_limit import RateLimited, check_rate_limit
from projects.models import Project, Status
from starter.api_parser import NotUnicode, UnicodeParser
from tests.api.conftest import API, TokenClient

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"error", "message", "detail"}


def test_invalid_json_is_a_400_in_the_error_shape(alice_api: TokenClient) -> None:
    response = alice_api.post(f"{API}/projects", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == ERROR_KEYS and response.json()["error"] == "invalid"


def test_validation_errors_say_which_field_without_echoing_input(
    alice_api: TokenClient, alice_project: Project
) -> None:
    response = alice_api.post(
        f"{API}/projects/{alice_project.public_id}/exec",
        {"command": "ls", "timeout": 301},
        content_type="application/json",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error" and "timeout" in body["message"]
    assert body["detail"][0]["loc"] == ["body", "payload", "timeout"]
    assert "input" not in body["detail"][0]

    nul = alice_api.post(
        f"{API}/projects", {"name": "bad\x00name"}, content_type="application/json"
    )
    assert nul.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "exec", '{"command": "echo \\ud800"}'),
        ("post", "exec", '{"command": ["echo", "\\udfff"]}'),
        ("put", "files/content", '{"path": "a\\ud800.txt", "content": "x"}'),
        ("put", "files/content", '{"path": "a.txt", "content": "x", "\\ud800": 1}'),
        ("patch", "", '{"name": "\\ud83d"}'),
    ],
)
def test_lone_surrogates_in_json_are_a_422_that_says_where(
    alice_api: TokenClient, alice_project: Project, method: str, path: str, body: str
) -> None:
    url = f"{API}/projects/{alice_project.public_id}/{path}".rstrip("/")
    response = getattr(alice_api, method)(url, body, content_type="application/json")
    assert response.status_code == 422, response.content
    error = response.json()
    assert set(error) == ERROR_KEYS and error["error"] == "validation_error"
    assert "not valid Unicode" in error["message"]
    assert error["detail"][0]["loc"][0] == "body"


def test_a_surrogate_pair_is_ordinary_text(alice_api: TokenClient, alice_project: Project) -> None:
    response = alice_api.patch(
        f"{API}/projects/{alice_project.public_id}",
        '{"name": "Rocket \\ud83d\\ude80"}',
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["name"] == "Rocket \U0001f680"


def test_broken_utf8_in_a_query_string_is_a_4xx(alice_api: TokenClient) -> None:
    # Django decodes it to U+FFFD (never to a surrogate): an ordinary invalid value.
    response = alice_api.get(f"{API}/projects?status=%ED%A0%80")
    assert response.status_code == 422 and response.json()["error"] == "validation_error"


def test_the_parser_refuses_lone_surrogates_in_query_values_too() -> None:
    with pytest.raises(NotUnicode) as refused:
        UnicodeParser().parse_querydict(
            MultiValueDict({"path": ["ok", "\udc80"]}), ["path"], HttpRequest()
        )
    assert refused.value.location == ("query", "path", "1")


def test_unknown_api_paths_are_a_404_in_the_error_shape(alice_api: TokenClient) -> None:
    for method in ["get", "post", "delete"]:
        response = getattr(alice_api, method)(f"{API}/no/such/thing")
        assert response.status_code == 404, method
        assert response["Content-Type"].startswith("application/json")
        assert set(response.json()) == ERROR_KEYS and response.json()["error"] == "not_found"


def test_a_method_a_path_does_not_have_is_a_405_in_the_error_shape(
    alice_api: TokenClient, alice_project: Project
) -> None:
    response = alice_api.delete(f"{API}/projects")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    body = response.json()
    assert body["error"] == "method_not_allowed" and "GET, POST" in body["message"]
    assert body["detail"] == {"allowed": ["GET", "POST"]}
    events = alice_api.post(f"{API}/projects/{alice_project.public_id}/events")
    assert events.status_code == 405 and events.json()["error"] == "method_not_allowed"


def test_unknown_project_ids_of_any_shape_are_404(alice_api: TokenClient) -> None:
    for project_id in ["0000000000000000", "nope", "x" * 300, "%00"]:
        response = alice_api.get(f"{API}/projects/{project_id}")
        assert response.status_code == 404, project_id
        assert response.json()["error"] == "not_found"


def test_a_body_over_the_limit_is_a_413(
    alice_api: TokenClient, alice_project: Project, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = alice_api.put(
        f"{API}/projects/{alice_project.public_id}/files/content",
        {"path": "big.txt", "content": "a" * 2000},
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert "1000 bytes" in response.json()["message"]


def test_a_project_that_is_not_running_is_a_409_for_agent_and_exec(
    alice: User, alice_api: TokenClient
) -> None:
    project = Project.objects.create(owner=alice, name="Broken", status=Status.ERROR)
    for path, body in [("prompt", {"message": "hi"}), ("exec", {"command": "ls"})]:
        response = alice_api.post(
            f"{API}/projects/{project.public_id}/{path}", body, content_type="application/json"
        )
        assert response.status_code == 409, response.content
        assert response.json()["error"] == "not_running"
        assert "running" in response.json()["message"]
    events = alice_api.get(f"{API}/projects/{project.public_id}/events")
    assert events.status_code == 409 and events.json()["error"] == "not_running"


def test_a_bad_event_cursor_is_a_422(alice_api: TokenClient, alice_project: Project) -> None:
    url = f"{API}/projects/{alice_project.public_id}/events"
    assert alice_api.get(url, {"after": "-1"}).status_code == 422
    assert alice_api.get(url, headers={"Last-Event-ID": "abc"}).status_code == 422


def test_exec_is_rate_limited_per_token(
    alice: User, alice_api: TokenClient, alice_project: Project, settings: Any
) -> None:
    settings.STARTER_RATE_LIMITS = {"exec": 2}
    url = f"{API}/projects/{alice_project.public_id}/exec"
    statuses = [
        alice_api.post(url, {"command": "true"}, content_type="application/json") for _ in range(3)
    ]
    assert all(response.status_code != 429 for response in statuses[:2])
    limited = statuses[2]
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # Another token of the same person has its own window.
    other = TokenClient(create_api_token(alice, "second")[1])
    assert other.post(url, {"command": "true"}, content_type="application/json").status_code != 429


def test_agent_operations_are_rate_limited(
    alice_api: TokenClient, alice_project: Project, settings: Any
) -> None:
    settings.STARTER_RATE_LIMITS = {"agent": 1}
    url = f"{API}/projects/{alice_project.public_id}"
    assert alice_api.get(f"{url}/state").status_code != 429
    limited = alice_api.post(f"{url}/prompt", {"message": "hi"}, content_type="application/json")
    assert limited.status_code == 429 and limited["Retry-After"]
    # Plain reads of the project are not limited.
    assert alice_api.get(url).status_code == 200


def test_rate_limit_window_counts_in_redis(settings: Any) -> None:
    settings.STARTER_RATE_LIMITS = {"agent": 3}
    for _ in range(3):
        check_rate_limit("agent", "test:window")
    with pytest.raises(RateLimited) as raised:
        check_rate_limit("agent", "test:window")
    assert 1 <= raised.value.retry_after <= 60
