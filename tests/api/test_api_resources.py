"""The REST API's resources against the real database: projects, lifecycle, secrets and
settings (write-only values), and the docs page working without the internet."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from accounts.models import User
from organisations import provider_settings
from organisations.personal import personal_organisation_of
from projects.models import Project, Status
from tests.api.conftest import API, TokenClient

pytestmark = pytest.mark.django_db


def test_create_then_get_a_project(alice_api: TokenClient) -> None:
    created = alice_api.post(
        f"{API}/projects",
        {"name": "  Shop  ", "description": "Sells"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Shop" and body["status"] == "creating"
    assert Project.objects.get(public_id=body["id"]).owner.email == "alice@example.com"
    assert alice_api.get(f"{API}/projects/{body['id']}").json() == body


def test_list_is_paginated_and_filtered_by_status(
    alice: User, alice_api: TokenClient, bob: User
) -> None:
    for index in range(5):
        Project.objects.create(
            owner=alice, name=f"P{index}", status=Status.SLEEPING if index % 2 else Status.RUNNING
        )
    Project.objects.create(owner=bob, name="Not alice's")
    Project.objects.create(owner=alice, name="Gone", status=Status.DESTROYED)

    page = alice_api.get(f"{API}/projects", {"limit": 2, "offset": 1}).json()
    assert page["count"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [item["name"] for item in page["items"]] == ["P3", "P2"]  # newest first
    sleeping = alice_api.get(f"{API}/projects", {"status": "sleeping"}).json()
    assert sorted(item["name"] for item in sleeping["items"]) == ["P1", "P3"]
    assert sleeping["count"] == 2
    unknown = alice_api.get(f"{API}/projects", {"status": "napping"})
    assert unknown.status_code == 422 and unknown.json()["error"] == "validation_error"
    too_many = alice_api.get(f"{API}/projects", {"limit": 1000})
    assert too_many.status_code == 422


def test_rename_and_change_description(alice_api: TokenClient, alice_project: Project) -> None:
    url = f"{API}/projects/{alice_project.public_id}"
    renamed = alice_api.patch(url, {"description": "Numbers"}, content_type="application/json")
    assert renamed.json()["name"] == "Sales dashboard"
    assert renamed.json()["description"] == "Numbers"
    renamed = alice_api.patch(url, {"name": "Sales"}, content_type="application/json")
    assert renamed.json()["name"] == "Sales" and renamed.json()["description"] == "Numbers"
    empty = alice_api.patch(url, {"name": "   "}, content_type="application/json")
    assert empty.status_code == 400 and empty.json()["message"] == "Give the project a name."


def test_lifecycle_actions_answer_the_new_status_and_a_task_id(
    alice_api: TokenClient, alice_project: Project
) -> None:
    url = f"{API}/projects/{alice_project.public_id}"
    slept = alice_api.post(f"{url}/sleep")
    assert slept.status_code == 202, slept.content
    uuid.UUID(slept.json()["task_id"])
    assert slept.json()["status"] == "running"  # the worker moves it; nothing ran yet

    woken = alice_api.post(f"{url}/wake")
    assert woken.status_code == 409
    assert woken.json() == {
        "error": "conflict",
        "detail": None,
        "message": "Only a sleeping project can be woken.",
    }

    rebootstrapped = alice_api.post(f"{url}/rebootstrap")
    assert rebootstrapped.status_code == 202
    assert rebootstrapped.json()["status"] == "bootstrapping"

    deleted = alice_api.delete(url)
    assert deleted.status_code == 202
    assert deleted.json()["status"] == "destroying"
    assert deleted.json()["task_id"] != rebootstrapped.json()["task_id"]
    again = alice_api.delete(url)
    assert again.status_code == 409


def test_creating_past_the_quota_is_a_409(alice: User, alice_api: TokenClient) -> None:
    # bulk_create skips Project.save(), which fills in the owner's personal organisation.
    organisation = personal_organisation_of(alice)
    Project.objects.bulk_create(
        Project(owner=alice, organisation=organisation, name=f"P{index}") for index in range(50)
    )
    response = alice_api.post(
        f"{API}/projects", {"name": "One more"}, content_type="application/json"
    )
    assert response.status_code == 409 and response.json()["error"] == "limit"


def test_secret_values_are_write_only(alice_api: TokenClient, alice_project: Project) -> None:
    url = f"{API}/projects/{alice_project.public_id}/secrets"
    saved = alice_api.put(
        f"{url}/STRIPE_KEY", {"value": "sk_live_hidden"}, content_type="application/json"
    )
    assert saved.status_code == 200
    listed = alice_api.get(url)
    assert [item["name"] for item in listed.json()] == ["STRIPE_KEY"]
    for response in (saved, listed):
        assert b"sk_live_hidden" not in response.content
    reserved = alice_api.put(
        f"{url}/STARTER_TOKEN", {"value": "x"}, content_type="application/json"
    )
    assert reserved.status_code == 400 and "reserved" in reserved.json()["message"]
    invalid = alice_api.put(f"{url}/lower-case", {"value": "x"}, content_type="application/json")
    assert invalid.status_code == 400
    assert alice_api.delete(f"{url}/STRIPE_KEY").status_code == 204
    missing = alice_api.delete(f"{url}/STRIPE_KEY")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_settings_show_which_keys_exist_never_the_keys(alice: User, alice_api: TokenClient) -> None:
    saved = alice_api.put(
        f"{API}/settings/api-keys/anthropic",
        {"key": "sk-ant-secret-1"},
        content_type="application/json",
    )
    assert saved.status_code == 200, saved.content
    shown = alice_api.get(f"{API}/settings")
    for response in (saved, shown):
        assert b"sk-ant-secret-1" not in response.content
    providers = {item["provider"]: item for item in shown.json()["providers"]}
    assert providers["anthropic"]["has_key"] and providers["anthropic"]["set_at"]
    assert not providers["openai"]["has_key"] and providers["openai"]["set_at"] is None
    # An alias of the personal organisation's keys (budgets and keys are the organisation's).
    assert personal_organisation_of(alice).api_key_map() == {"anthropic": "sk-ant-secret-1"}

    patched = alice_api.patch(
        f"{API}/settings",
        {"default_provider": "anthropic", "default_model": "claude-sonnet-4-5"},
        content_type="application/json",
    )
    assert patched.status_code == 200
    assert patched.json()["default_model"] == "claude-sonnet-4-5"
    assert patched.json()["default_thinking_level"] == "off"
    thinking = alice_api.patch(
        f"{API}/settings", {"default_thinking_level": "high"}, content_type="application/json"
    )
    assert thinking.json()["default_model"] == "claude-sonnet-4-5"  # untouched
    bad = alice_api.patch(
        f"{API}/settings", {"default_provider": "has space"}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid"

    assert alice_api.delete(f"{API}/settings/api-keys/anthropic").status_code == 204
    assert alice_api.delete(f"{API}/settings/api-keys/anthropic").status_code == 404
    unknown = alice_api.put(
        f"{API}/settings/api-keys/nobody", {"key": "k"}, content_type="application/json"
    )
    assert unknown.status_code == 404 and "Unknown provider" in unknown.json()["message"]


def test_settings_belong_to_the_caller(alice: User, bob_api: TokenClient) -> None:

    provider_settings.set_api_key(personal_organisation_of(alice), alice, "openai", "sk-alice")
    providers = bob_api.get(f"{API}/settings").json()["providers"]
    assert not any(item["has_key"] for item in providers)


def test_openapi_and_docs_work_offline() -> None:
    client = Client(HTTP_HOST="localhost")
    document = client.get(f"{API}/openapi.json").json()
    assert document["info"]["title"] == "Starter API"
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerTokenAuth"] == {"type": "http", "scheme": "bearer"}
    docs = client.get(f"{API}/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "https://" not in html
    assert "/static/ninja/swagger-ui-bundle.js" in html
    bundle = client.get("/static/ninja/swagger-ui-bundle.js")
    assert bundle.status_code == 200
