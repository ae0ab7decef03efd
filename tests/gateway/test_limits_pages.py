"""The budget and guard forms of the dashboard: the project's settings panel and the
person's settings page, their JSON twins, and what others get (404)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import User
from gateway import limits
from gateway.models import GatewayPolicy, OrganisationLimits, ProjectLimits
from organisations.personal import personal_organisation_of
from projects.models import Project

pytestmark = pytest.mark.django_db


def test_the_settings_panel_shows_and_saves_budget_and_guard(
    alice_project: Project, alice_client: Client, bob_client: Client
) -> None:
    public_id = alice_project.public_id
    panel = alice_client.get(f"/p/{public_id}/manage/")
    assert panel.status_code == 200
    assert b"Budget and loop guard" in panel.content
    form = {
        "monthly_budget": "12.5",
        "guard_repeat_limit": "4",
        "guard_call_limit": "40",
        "guard_run_minutes": "20",
    }  # the checkbox left unticked: the guard goes off
    saved = alice_client.post(f"/p/{public_id}/limits/update/", form)
    assert saved.status_code == 302
    row = ProjectLimits.objects.get(project=alice_project)
    assert (row.monthly_budget, row.guard_enabled, row.guard_repeat_limit) == (
        Decimal("12.5"),
        False,
        4,
    )
    refused = alice_client.post(
        f"/p/{public_id}/limits/update/", {**form, "guard_repeat_limit": "1"}, follow=True
    )
    assert b"from 2 to 100" in refused.content
    assert ProjectLimits.objects.get(project=alice_project).guard_repeat_limit == 4
    assert bob_client.post(f"/p/{public_id}/limits/update/", form).status_code == 404
    assert bob_client.get(f"/p/{public_id}/limits/").status_code == 404


def test_the_json_twin_answers_400_for_bad_values(
    alice_project: Project, alice_client: Client
) -> None:
    url = f"/p/{alice_project.public_id}/limits/update/"
    bad = alice_client.post(url, {"guard": "on"}, content_type="application/json")
    assert bad.status_code == 400
    worse = alice_client.post(url, {"monthly_budget": "-3"}, content_type="application/json")
    assert worse.status_code == 400
    assert "more than $0" in worse.json()["message"]
    good = alice_client.post(url, {"monthly_budget": ""}, content_type="application/json")
    assert good.json()["monthly_budget"] is None


def test_the_settings_page_sets_a_persons_budget_within_the_cap(
    alice: User, alice_client: Client
) -> None:
    policy = GatewayPolicy.current()
    policy.max_user_monthly_budget = Decimal("50")
    policy.save()
    page = alice_client.get("/settings/")
    assert b'id="budget"' in page.content
    panel = alice_client.get("/budget/panel/")
    assert b"at most $50.00" in panel.content
    over = alice_client.post("/budget/", {"monthly_budget": "60"}, follow=True)
    assert b"at most $50.00 a month" in over.content
    assert limits.own_organisation_budget(personal_organisation_of(alice).pk) is None
    alice_client.post("/budget/", {"monthly_budget": "40"})
    assert OrganisationLimits.objects.get(
        organisation=personal_organisation_of(alice)
    ).monthly_budget == Decimal("40")
