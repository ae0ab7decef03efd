"""Budgets from the ledger: the estimate rule, the operator's default and cap, the month
boundary, the 402 for new prompts, the settings' bad input, and the 80 % broadcast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone

from accounts.models import User
from gateway import admission, budgets, limits
from gateway.calls import CallContext, Upstream
from gateway.models import GatewayPolicy, ProjectLimits, UsageRecord
from organisations.personal import personal_organisation_of
from projects.bridge import agent
from projects.broadcast import project_group
from projects.errors import ProjectError, status_of
from projects.models import Project

pytestmark = pytest.mark.django_db

X = Decimal("0.04")  # what every call costs here


def context_of(project: Project, session: str = "s1") -> CallContext:
    upstream = Upstream("fake", "openai-completions", "http://127.0.0.1:1/v1", "sk-never")
    organisation = project.organisation
    return CallContext(
        project.pk,
        project.public_id,
        project.name,
        project.owner_id,
        organisation.pk,
        organisation.public_id,
        organisation.name,
        "fake",
        session,
        upstream,
    )


def spend(project: Project, cost: Decimal | None, when: datetime | None = None) -> UsageRecord:
    return UsageRecord.objects.create(
        user_id=project.owner_id,
        organisation_id=project.organisation_id,
        project=project,
        project_public_id=project.public_id,
        project_name=project.name,
        provider="fake",
        model="fake-model",
        cost=cost,
        created_at=when or timezone.now(),
    )


def test_with_calls_of_x_and_a_budget_of_two_and_a_half_x_exactly_two_go_out(
    alice_project: Project,
) -> None:
    budgets.set_project_budget(alice_project, X * Decimal("2.5"))
    context = context_of(alice_project)
    sent = 0
    for _ in range(5):
        refusal = admission.admit_now(context, None)
        if refusal is not None:
            break
        sent += 1
        spend(alice_project, X)
    assert sent == 2
    assert refusal is not None
    assert refusal.status == 402
    assert refusal.code == "budget_reached"
    assert "out of budget" in refusal.message
    assert refusal.details == {
        "scope": "project",
        "spent": "0.08",
        "limit": "0.10",
        "month": f"{timezone.now():%Y-%m}",
    }


def test_the_first_call_has_no_estimate_and_spent_at_the_limit_refuses(
    alice_project: Project,
) -> None:
    budgets.set_project_budget(alice_project, "1")
    assert admission.admit_now(context_of(alice_project), None) is None
    spend(alice_project, Decimal("1"))
    refusal = admission.admit_now(context_of(alice_project), None)
    assert refusal is not None and refusal.details["spent"] == "1.00"


def test_calls_without_a_price_count_nothing_and_are_reported(alice_project: Project) -> None:
    budgets.set_project_budget(alice_project, "1")
    for _ in range(3):
        spend(alice_project, None)
    [state] = budgets.states_of(alice_project)
    assert state.spent == 0
    assert state.unpriced == 3
    assert not state.reached


def test_last_months_rows_do_not_count(alice_project: Project) -> None:
    budgets.set_project_budget(alice_project, "1")
    start = budgets.month_start()
    spend(alice_project, Decimal("5"), start - timedelta(seconds=1))
    spend(alice_project, Decimal("0.10"), start)
    [state] = budgets.states_of(alice_project)
    assert state.spent == Decimal("0.10")
    assert budgets.month_start(datetime(2026, 3, 31, 23, 59, tzinfo=UTC)) == datetime(
        2026, 3, 1, tzinfo=UTC
    )


def test_the_organisations_budget_counts_every_project_and_destroyed_ones(
    alice: User, alice_project: Project
) -> None:
    other = Project.objects.create(owner=alice, name="other")
    budgets.set_organisation_budget(personal_organisation_of(alice), alice, "1")
    spend(other, Decimal("0.60"))
    other.delete()  # the rows stay (project set to NULL)
    spend(alice_project, Decimal("0.30"))
    # Estimate: alice_project's last call, 0.30: 0.90 + 0.30 > 1.
    refusal = admission.admit_now(context_of(alice_project), None)
    assert refusal is not None
    assert refusal.details["scope"] == "organisation"
    assert refusal.details["spent"] == "0.90"
    assert "the organisation's monthly budget" in refusal.message


def test_policy_default_applies_and_the_cap_bounds_everything(alice: User) -> None:
    policy = GatewayPolicy.current()
    assert limits.organisation_budget(personal_organisation_of(alice).pk) is None
    policy.default_user_monthly_budget = Decimal("20")
    policy.save()
    assert limits.organisation_budget(personal_organisation_of(alice).pk) == Decimal("20")
    budgets.set_organisation_budget(personal_organisation_of(alice), alice, "5")
    assert limits.organisation_budget(personal_organisation_of(alice).pk) == Decimal("5")
    policy.max_user_monthly_budget = Decimal("3")
    policy.save()
    # Set before the cap came: the cap still bounds it.
    assert limits.organisation_budget(personal_organisation_of(alice).pk) == Decimal("3")
    with pytest.raises(ProjectError) as refused:
        budgets.set_organisation_budget(personal_organisation_of(alice), alice, "4")
    assert status_of(refused.value) == 400
    assert "at most $3.00" in refused.value.message
    budgets.set_organisation_budget(personal_organisation_of(alice), alice, None)
    assert limits.organisation_budget(personal_organisation_of(alice).pk) == Decimal(
        "3"
    )  # default 20, capped


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "NaN", "Infinity", "99999999", [], True])
def test_bad_budgets_are_a_clear_400(alice_project: Project, bad: object) -> None:
    with pytest.raises(ProjectError) as refused:
        budgets.set_project_budget(alice_project, bad)
    assert status_of(refused.value) == 400


def test_a_reached_budget_refuses_prompts_with_402_until_it_is_raised(
    alice_project: Project,
) -> None:
    budgets.set_project_budget(alice_project, "0.05")
    spend(alice_project, X)
    with pytest.raises(ProjectError) as refused:
        agent.send(alice_project, None, "hello", "prompt")
    assert status_of(refused.value) == 402
    assert "out of budget" in refused.value.message
    budgets.set_project_budget(alice_project, "1")
    budgets.ensure_can_prompt(alice_project)  # no error: it may go on


def test_rest_prompt_gets_402_and_raising_through_the_api_lets_it_go(
    alice: User, alice_project: Project, alice_client: Client
) -> None:
    budgets.set_project_budget(alice_project, "0.05")
    spend(alice_project, X)
    base = f"/api/v1/projects/{alice_project.public_id}"
    answer = alice_client.post(f"{base}/prompt", {"message": "hi"}, content_type="application/json")
    assert answer.status_code == 402
    assert answer.json()["error"] == "budget_reached"
    page = alice_client.post(
        f"/p/{alice_project.public_id}/agent/send/",
        {"message": "hi"},
        content_type="application/json",
    )
    assert page.status_code == 402
    state = alice_client.get(f"{base}/limits").json()
    assert state["state"]["reached"] is True
    assert state["state"]["budgets"][0]["percent"] == 80
    raised = alice_client.patch(
        f"{base}/limits", {"monthly_budget": "2"}, content_type="application/json"
    )
    assert raised.status_code == 200
    assert raised.json()["state"]["reached"] is False
    assert ProjectLimits.objects.get(project=alice_project).monthly_budget == Decimal("2")


def test_api_settings_refuse_bad_input_and_other_peoples_projects(
    alice: User, alice_project: Project, alice_client: Client, bob_client: Client
) -> None:
    base = f"/api/v1/projects/{alice_project.public_id}/limits"
    bad = alice_client.patch(base, {"guard": {"repeat_limit": 1}}, content_type="application/json")
    assert bad.status_code == 400
    assert "from 2 to 100" in bad.json()["message"]
    assert bob_client.get(base).status_code == 404
    assert (
        bob_client.patch(base, {"monthly_budget": "9"}, content_type="application/json").status_code
        == 404
    )
    good = alice_client.patch(
        base,
        {"guard": {"enabled": False, "call_limit": 30, "run_minutes": 10}},
        content_type="application/json",
    )
    assert good.json()["guard"] == {
        "enabled": False,
        "repeat_limit": 5,
        "call_limit": 30,
        "run_minutes": 10,
    }
    policy = GatewayPolicy.current()
    policy.max_user_monthly_budget = Decimal("10")
    policy.save()
    over = alice_client.put(
        "/api/v1/settings/budget", {"monthly_budget": "11"}, content_type="application/json"
    )
    assert over.status_code == 400
    assert over.json()["error"] == "budget_above_cap"
    fine = alice_client.put(
        "/api/v1/settings/budget", {"monthly_budget": "7.5"}, content_type="application/json"
    )
    assert fine.json()["monthly_budget"] == "7.50"
    assert fine.json()["max_budget"] == "10.00"


def test_crossing_80_percent_tells_the_viewers_with_the_ledgers_numbers(
    alice_project: Project,
) -> None:
    budgets.set_project_budget(alice_project, "1")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(project_group(alice_project.public_id), channel)
    try:
        budgets.after_call(spend(alice_project, Decimal("0.50")))  # 50 %: nothing to say
        budgets.after_call(spend(alice_project, Decimal("0.35")))  # 85 %: warning
        message = async_to_sync(layer.receive)(channel)
    finally:
        async_to_sync(layer.group_discard)(project_group(alice_project.public_id), channel)
    payload = message["payload"]
    assert payload["kind"] == "budget"
    assert payload["warning"] is True
    # 0.85 spent + 0.35 estimated > 1: the next call would cross it.
    assert payload["reached"] is True
    assert payload["budgets"][0]["percent"] == 85
