"""Project names cannot hide characters: bidi overrides and isolates, zero-width characters,
the BOM and control characters are refused with a clear message by the dashboard's form,
the API and the admin alike (one validator, `projects.models.validate_project_name`)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from accounts.tokens import create_api_token
from projects.models import Project
from tests.api.conftest import API, TokenClient

pytestmark = pytest.mark.django_db

# Each reads as something else on screen than what it is.
HIDDEN = {
    "right-to-left override": "Invoice\u202egpj.exe",
    "left-to-right embedding": "Sales\u202a dashboard",
    "first strong isolate": "Sales \u2068dashboard\u2069",
    "zero width space": "Sales\u200bdashboard",
    "zero width joiner": "Sales\u200ddashboard",
    "byte order mark": "\ufeffSales dashboard",
    "soft hyphen": "Sales\u00addashboard",
    "escape": "Sales \x1b[31mdashboard",
}
VISIBLE = ["Café ☕ 日本語", "עברית ومرحبا", "I ❤️ Starter", "Tab\tand  spaces"]


@pytest.mark.parametrize("name", HIDDEN.values(), ids=HIDDEN.keys())
def test_the_new_project_form_refuses_hidden_characters(alice_client: Client, name: str) -> None:
    response = alice_client.post("/", {"name": name})
    assert response.status_code == 422
    assert "invisible or direction-changing characters" in response.content.decode()
    assert not Project.objects.exists()


def test_renaming_in_the_dashboard_refuses_them_too(
    alice_client: Client, alice_project: Project
) -> None:
    response = alice_client.post(
        f"/p/{alice_project.public_id}/rename/", {"name": HIDDEN["right-to-left override"]}
    )
    assert "U+202E, RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    alice_project.refresh_from_db()
    assert alice_project.name == "Sales dashboard"


@pytest.fixture
def alice_api(alice: User) -> TokenClient:
    return TokenClient(create_api_token(alice, "tests")[1])


@pytest.mark.parametrize("name", HIDDEN.values(), ids=HIDDEN.keys())
def test_the_api_answers_a_422_that_says_why(alice_api: TokenClient, name: str) -> None:
    response = alice_api.post(f"{API}/projects", {"name": name}, content_type="application/json")
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "validation_error" and body["detail"][0]["loc"][-1] == "name"
    # The escape meets the older check for control characters first.
    assert "invisible or direction-changing" in body["detail"][0]["msg"] or (
        "control characters" in body["detail"][0]["msg"]
    )
    assert not Project.objects.exists()


def test_the_api_refuses_them_on_rename(alice_api: TokenClient, alice_project: Project) -> None:
    response = alice_api.patch(
        f"{API}/projects/{alice_project.public_id}",
        {"name": HIDDEN["zero width space"]},
        content_type="application/json",
    )
    assert response.status_code == 422


@pytest.mark.parametrize("name", VISIBLE)
def test_names_in_any_script_with_emoji_and_spaces_are_fine(
    alice_api: TokenClient, name: str
) -> None:
    response = alice_api.post(f"{API}/projects", {"name": name}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == " ".join(name.split())


def test_the_admin_refuses_them_through_the_field_validator(
    client: Client, operator: User, alice_project: Project
) -> None:
    client.force_login(operator)
    response = client.post(
        f"/admin/projects/project/{alice_project.pk}/change/",
        {"name": HIDDEN["first strong isolate"], "description": ""},
    )
    assert response.status_code == 200
    assert "invisible or direction-changing characters" in response.content.decode()
    alice_project.refresh_from_db()
    assert alice_project.name == "Sales dashboard"
