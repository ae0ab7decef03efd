"""Acceptance 4 of issue 19: upgrading keeps what every user had.

A fresh test database is taken back to main before organisations (accounts 0005, projects
0004, gateway 0001, no organisations), filled through the historical models as that version
wrote its rows (users, projects, project secrets, API tokens, provider keys, a Sprites token,
custom providers, usage records, budgets), then migrated to the latest. Every user must find
it all again in their personal organisation: same secrets decrypting to the same values,
same tokens working, same keys, custom providers and budget, same usage totals.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, CustomProvider, User, hash_token
from gateway.models import OrganisationLimits, UsageRecord
from organisations.models import AuditEntry, Membership, Organisation
from organisations.roles import Role
from projects.models import Project, ProjectSecret
from tests.support.migrations import migrate_to, migrate_to_latest

BEFORE_ORGANISATIONS = [
    ("accounts", "0005_custom_provider_prices"),
    ("projects", "0004_project_next_job_at"),
    ("gateway", "0001_initial"),
    ("organisations", None),
]


def _write_old_world(apps: Any) -> dict[str, dict[str, Any]]:
    """What two people and one person without settings had before organisations existed.
    Returns what each must find again (by e-mail)."""
    user_model = apps.get_model("accounts", "User")
    user_settings = apps.get_model("accounts", "UserSettings")
    api_token = apps.get_model("accounts", "ApiToken")
    custom_provider = apps.get_model("accounts", "CustomProvider")
    project_model = apps.get_model("projects", "Project")
    project_secret = apps.get_model("projects", "ProjectSecret")
    usage_record = apps.get_model("gateway", "UsageRecord")
    user_limits = apps.get_model("gateway", "UserLimits")

    expected: dict[str, dict[str, Any]] = {}
    people = [
        ("ada@example.com", {"anthropic": "sk-ant-ada-1", "openai": "sk-oa-ada-2"}, "fly-ada"),
        ("bea@example.com", {"openai": "sk-oa-bea-3"}, ""),
        ("cy@example.com", None, ""),  # never opened the settings page: no row at all
    ]
    now = timezone.now()
    for number, (email, keys, sprites_token) in enumerate(people):
        user = user_model.objects.create(
            email=email, password=make_password("pw-" + email), date_joined=now
        )
        found: dict[str, Any] = {
            "keys": dict(keys or {}),
            "sprites_token": sprites_token,
            "projects": {},
            "providers": {},
        }
        if keys is not None:
            user_settings.objects.create(
                user=user,
                default_provider="anthropic",
                default_model="claude-x",
                api_keys=json.dumps(keys),
                api_keys_set_at={name: now.isoformat() for name in keys},
                sprites_token=sprites_token,
                sprites_token_set_at=now if sprites_token else None,
            )
        raw = f"st_{secrets.token_urlsafe(32)}"
        api_token.objects.create(
            user=user, name="ci", scope="full", prefix=raw[:10], token_hash=hash_token(raw)
        )
        found["token"] = raw
        for index in range(2):
            project = project_model.objects.create(
                public_id=secrets.token_hex(8),
                name=f"{email.split('@')[0]} project {index}",
                owner=user,
                status="sleeping",
            )
            value = f"secret-{email}-{index}"
            project_secret.objects.create(project=project, name="API_TOKEN", value=value)
            found["projects"][project.public_id] = value
            for cost in (Decimal("0.25"), None, Decimal("1.5")):
                usage_record.objects.create(
                    user=user,
                    project=project,
                    project_public_id=project.public_id,
                    project_name=project.name,
                    provider="anthropic",
                    model="claude-x",
                    input_tokens=100,
                    output_tokens=10,
                    cost=cost,
                )
        # A destroyed project's rows (its project row gone) still count for its person.
        usage_record.objects.create(
            user=user,
            project=None,
            project_public_id="gone" + str(number),
            project_name="gone",
            provider="openai",
            model="gpt",
            cost=Decimal("2"),
        )
        if keys is not None:
            custom_provider.objects.create(
                user=user,
                name="my-ollama",
                api="openai-completions",
                base_url=f"http://gpu-{number}:11434/v1",
                model_ids=["llama"],
                api_key=f"ollama-key-{number}",
                price_input=Decimal("0.1"),
                price_output=Decimal("0.2"),
            )
            found["providers"]["my-ollama"] = (
                f"http://gpu-{number}:11434/v1",
                f"ollama-key-{number}",
            )
            budget = Decimal(25 + number)
            user_limits.objects.create(user=user, monthly_budget=budget)
            found["budget"] = budget
        else:
            found["budget"] = None
        found["usage_cost"] = Decimal("0.25") * 2 + Decimal("1.5") * 2 + Decimal("2")
        found["usage_rows"] = 7
        expected[email] = found
    return expected


@pytest.mark.django_db(transaction=True)
def test_every_user_keeps_what_they_had_after_the_organisations_migrations() -> None:
    try:
        expected = _write_old_world(migrate_to(BEFORE_ORGANISATIONS))
        migrate_to_latest()
        _check_everyone_kept_everything(expected)
    finally:
        migrate_to_latest()


def _check_everyone_kept_everything(expected: dict[str, dict[str, Any]]) -> None:
    assert not AuditEntry.objects.exists()  # moving data is no one's action
    for email, found in expected.items():
        user = User.objects.get(email=email)
        organisation = Organisation.objects.get(personal_of=user)
        assert Membership.objects.get(organisation=organisation, user=user).role == Role.OWNER
        assert Membership.objects.filter(organisation=organisation).count() == 1

        # Their projects, in their personal organisation, with the same secrets.
        projects = Project.objects.filter(owner=user)
        assert {p.public_id for p in projects} == set(found["projects"])
        assert {p.organisation_id for p in projects} == {organisation.pk}
        assert set(Project.objects.for_user(user)) == set(projects)
        for public_id, value in found["projects"].items():
            secret = ProjectSecret.objects.get(project__public_id=public_id, name="API_TOKEN")
            assert secret.value == value

        # Keys, Sprites token, custom providers and budget: now the organisation's.
        assert organisation.api_key_map() == found["keys"]
        assert set(organisation.api_keys_set_at) == set(found["keys"])
        assert organisation.sprites_token == found["sprites_token"]
        assert (organisation.sprites_token_set_at is not None) == bool(found["sprites_token"])
        providers = {
            p.name: (p.base_url, p.api_key)
            for p in CustomProvider.objects.filter(organisation=organisation)
        }
        assert providers == found["providers"]
        limits = OrganisationLimits.objects.filter(organisation=organisation).first()
        assert (limits.monthly_budget if limits else None) == found["budget"]

        # The ledger: every row names the personal organisation; the totals are unchanged.
        rows = UsageRecord.objects.filter(user=user)
        assert rows.count() == found["usage_rows"]
        assert set(rows.values_list("organisation_id", flat=True)) == {organisation.pk}
        assert set(rows.values_list("organisation_public_id", flat=True)) == {
            organisation.public_id
        }
        org_rows = UsageRecord.objects.filter(organisation=organisation)
        assert org_rows.aggregate(total=Sum("cost"))["total"] == found["usage_cost"]

        # The same API token still works, and finds their projects and keys.
        token = ApiToken.objects.get(token_hash=hash_token(found["token"]))
        assert token.organisation_id is None  # acts in all their organisations
        client = Client()
        auth = {"HTTP_AUTHORIZATION": f"Bearer {found['token']}"}
        listed = client.get("/api/v1/projects", **auth)
        assert listed.status_code == 200, listed.content
        body = listed.json()
        items = body["items"] if isinstance(body, dict) else body
        assert {item["id"] for item in items} >= set(found["projects"])
        keys = client.get(f"/api/v1/organisations/{organisation.public_id}/keys", **auth)
        assert keys.status_code == 200, keys.content
        assert {k["provider"] for k in keys.json() if k["has_key"]} == set(found["keys"])
        budget = client.get("/api/v1/settings/budget", **auth)
        assert budget.status_code == 200, budget.content
        own = budget.json()["monthly_budget"]
        assert own == (None if found["budget"] is None else f"{found['budget']:.2f}")
