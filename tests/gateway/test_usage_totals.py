"""Usage totals are sums of the ledger: by session, project, person, day and month; a call
without a price is "price unknown", never $0; another person's calls never count."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from accounts.models import User
from gateway import usage
from gateway.usage import Totals, format_cost
from projects.models import Project, Status
from tests.support.ledger import metered_call, priced_provider

ONE_CALL = Decimal("0.001415")  # 1000 in x $1 + 200 out x $2 + 30 cached x $0.50, per million


@pytest.fixture
def priced(alice: User) -> None:
    priced_provider(alice)


def test_session_totals_sum_the_sessions_calls(alice_project: Project, priced: None) -> None:
    for _ in range(3):
        metered_call(alice_project, session_id="s1")
    metered_call(alice_project, session_id="s2", usage=(10, 5, 0, 0))

    totals = usage.session_totals(alice_project.owner_id, alice_project.public_id, "s1")

    assert totals == Totals(
        calls=3, input_tokens=3000, output_tokens=600, cache_read_tokens=90, cost=3 * ONE_CALL
    )
    assert totals.tokens == 3690
    assert totals.cost_label == "$0.0042"
    by_session = usage.sessions_totals(alice_project.owner_id, alice_project.public_id)
    assert set(by_session) == {"s1", "s2"}
    assert by_session["s2"].tokens == 15


def test_cache_writes_are_priced_and_counted(alice_project: Project, priced: None) -> None:
    record = metered_call(alice_project, usage=(0, 0, 0, 1_000_000))
    assert record.cost == Decimal("4")
    assert usage.user_periods(alice_project.owner_id).month.cache_write_tokens == 1_000_000


def test_calls_without_a_price_are_price_unknown_never_zero(alice: User) -> None:
    project = Project.objects.create(owner=alice, name="Unpriced", status=Status.RUNNING)
    priced_provider(alice, "free-for-all", prices=False)
    record = metered_call(project, provider="free-for-all")
    assert record.cost is None

    totals = usage.project_periods(alice.pk, project.public_id).month
    assert totals.calls == 1 and totals.unpriced_calls == 1
    assert totals.cost_label == "price unknown"
    assert totals.as_json()["cost_label"] == "price unknown"


def test_a_mix_shows_the_known_sum_and_the_calls_without_a_price(
    alice_project: Project, priced: None
) -> None:
    priced_provider(alice_project.owner, "unpriced", prices=False)
    metered_call(alice_project)
    metered_call(alice_project, provider="unpriced")
    metered_call(alice_project, provider="unpriced")

    totals = usage.project_periods(alice_project.owner_id, alice_project.public_id).today

    assert totals.cost == ONE_CALL
    assert totals.unpriced_calls == 2
    assert totals.cost_label == "$0.0014 + 2 calls without a price"


def test_custom_provider_prices_make_the_cost(alice_project: Project, priced: None) -> None:
    record = metered_call(alice_project, usage=(2_000_000, 1_000_000, 0, 0))
    assert record.cost == Decimal("4")  # 2M x $1 + 1M x $2
    assert usage.user_periods(alice_project.owner_id).today.cost_label == "$4.00"


def test_today_and_this_month_stop_at_their_boundaries(
    alice_project: Project, priced: None
) -> None:
    now = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    metered_call(alice_project, at=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC))  # last month
    metered_call(alice_project, at=datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC))  # today, this month
    metered_call(alice_project, at=datetime(2026, 3, 1, 0, 10, tzinfo=UTC))

    periods = usage.project_periods(alice_project.owner_id, alice_project.public_id, now)
    assert periods.today.calls == 2 and periods.month.calls == 2

    later = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    metered_call(alice_project, at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    periods = usage.project_periods(alice_project.owner_id, alice_project.public_id, later)
    assert (periods.today.calls, periods.month.calls) == (1, 3)
    home = usage.projects_periods(alice_project.owner_id, [alice_project.public_id], later)
    assert home[alice_project.public_id] == periods


def test_daily_gives_thirty_days_with_zeros(alice_project: Project, priced: None) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    metered_call(alice_project, at=datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
    metered_call(alice_project, at=datetime(2026, 3, 9, 23, 0, tzinfo=UTC))
    metered_call(alice_project, at=datetime(2026, 2, 1, 8, 0, tzinfo=UTC))  # 37 days back

    days = usage.daily(alice_project.owner_id, 30, now)

    assert len(days) == 30
    assert days[0][0] == date(2026, 2, 9) and days[-1][0] == date(2026, 3, 10)
    counts = {day: totals.calls for day, totals in days if totals.calls}
    assert counts == {date(2026, 3, 9): 2}


def test_grouping_by_project_model_and_session(alice_project: Project, priced: None) -> None:
    other = Project.objects.create(owner=alice_project.owner, name="Other", status=Status.RUNNING)
    metered_call(alice_project, session_id="a")
    metered_call(alice_project, session_id="b", model="scripted-large")
    metered_call(other, session_id="c", usage=(1, 1, 0, 0))
    rows = usage.rows_of(alice_project.owner_id)

    projects = usage.grouped(rows, "project")
    assert [(group.key, group.label, group.totals.calls) for group in projects] == [
        (alice_project.public_id, "Sales dashboard", 2),
        (other.public_id, "Other", 1),
    ]
    models = {group.key: group.totals.calls for group in usage.grouped(rows, "model")}
    assert models == {"metered/scripted": 2, "metered/scripted-large": 1}
    sessions = {group.key: group.project for group in usage.grouped(rows, "session")}
    assert sessions == {"a": alice_project.public_id, "b": alice_project.public_id,
                        "c": other.public_id}  # fmt: skip


def test_another_persons_calls_never_count(alice_project: Project, bob: User, priced: None) -> None:
    bobs = Project.objects.create(owner=bob, name="Bob's", status=Status.RUNNING)
    priced_provider(bob)
    metered_call(bobs, session_id="s1")
    metered_call(alice_project, session_id="s1")

    assert usage.user_periods(alice_project.owner_id).month.calls == 1
    # Even asking for bob's project or session by name finds nothing of his.
    assert usage.project_periods(alice_project.owner_id, bobs.public_id).month.calls == 0
    assert usage.filtered_rows(alice_project.owner_id, usage.UsageFilter(project=bobs.public_id))\
        .count() == 0  # fmt: skip
    assert usage.session_totals(bob.pk, alice_project.public_id, "s1").calls == 0


def test_destroyed_projects_still_count(alice_project: Project, priced: None) -> None:
    metered_call(alice_project, session_id="s1")
    owner_id, public_id = alice_project.owner_id, alice_project.public_id
    alice_project.delete()

    assert usage.user_periods(owner_id).month.calls == 1
    [group] = usage.grouped(usage.rows_of(owner_id), "project")
    assert (group.key, group.label) == (public_id, "Sales dashboard")


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        (Decimal("0"), "$0.00"),
        (Decimal("0.00001"), "< $0.0001"),
        (Decimal("0.012345"), "$0.0123"),
        (Decimal("1.005"), "$1.00"),
        (Decimal("12.349"), "$12.35"),
    ],
)
def test_costs_are_shown_with_a_sensible_precision(cost: Decimal, shown: str) -> None:
    assert format_cost(cost) == shown


def test_a_renamed_project_is_grouped_under_its_newest_name(
    alice_project: Project, priced: None
) -> None:
    metered_call(alice_project, at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    alice_project.name = "Renamed"
    metered_call(alice_project, at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))

    [group] = usage.grouped(usage.rows_of(alice_project.owner_id), "project")
    assert (group.label, group.totals.calls) == ("Renamed", 2)
    by_day = usage.daily_by_project(
        usage.rows_of(alice_project.owner_id),
        [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)],
    )
    assert [totals.calls for totals in by_day[alice_project.public_id]] == [1, 1, 0]


def test_a_call_whose_project_row_was_deleted_meanwhile_is_still_recorded(
    alice: User, alice_project: Project
) -> None:
    """An operator deleting a project's row while its call streams must not lose the call
    (nor log a traceback in the gateway): the row keeps the project's id and name."""
    from gateway.calls import CallContext, Upstream, Usage
    from gateway.metering import record_call
    from gateway.models import UsageRecord

    context = CallContext(
        project_id=alice_project.pk,
        project_public_id=alice_project.public_id,
        project_name=alice_project.name,
        user_id=alice.pk,
        organisation_id=alice_project.organisation_id,
        organisation_public_id=alice_project.organisation.public_id,
        organisation_name=alice_project.organisation.name,
        provider="metered",
        session_id="",
        upstream=Upstream(provider="metered", api="openai-completions", base_url="", key=""),
    )
    Project.objects.filter(pk=alice_project.pk).delete()
    record = record_call(
        context, Usage(10, 2), model="m", duration_ms=5, status_code=200, complete=True
    )
    assert record is not None and record.project_id is None
    assert UsageRecord.objects.get(pk=record.pk).project_public_id == alice_project.public_id
    User.objects.filter(pk=alice.pk).delete()
    # The person is gone too: the call still happened and is still paid for.
    late = record_call(
        context, Usage(1, 1), model="m", duration_ms=1, status_code=200, complete=True
    )
    assert late.user_id is None and late.project_public_id == alice_project.public_id


def test_an_organisations_spend_stays_when_a_member_deletes_their_account(
    alice: User, bob: User
) -> None:
    """The budget is the sum of the organisation's rows: a leaver's account deleted (by an
    operator) must not give the organisation its month's money back."""
    from gateway.budgets import organisation_budget_document
    from gateway.models import UsageRecord
    from organisations.actions import create_organisation
    from organisations.models import Membership
    from organisations.roles import Role

    team = create_organisation(alice, "Team")
    Membership.objects.create(organisation=team, user=bob, role=Role.MEMBER)
    priced_provider(alice, organisation=team)
    bobs = Project.objects.create(
        owner=bob, organisation=team, name="Bob's", status=Status.RUNNING, sprite_name="s-b"
    )
    alices = Project.objects.create(
        owner=alice, organisation=team, name="Alice's", status=Status.RUNNING, sprite_name="s-a"
    )
    metered_call(bobs)
    metered_call(alices)
    before = organisation_budget_document(team)["spent"]
    assert Decimal(str(before)) > 0

    # The operator destroys the leaver's project (its rows stay), then deletes the account.
    bobs.delete()
    User.objects.filter(pk=bob.pk).delete()

    assert organisation_budget_document(team)["spent"] == before
    groups = usage.grouped_by_user(UsageRecord.objects.filter(organisation=team))
    assert sorted(group.label for group in groups) == ["A deleted account", alice.email]
