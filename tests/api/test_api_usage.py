"""GET /api/v1/usage: the caller's own calls, filtered and grouped; bad filters are 4xx."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from accounts.models import User
from projects.models import Project, Status
from tests.api.conftest import API, TokenClient
from tests.support.ledger import metered_call, priced_provider


@pytest.fixture
def ledger(alice_project: Project, bob: User) -> dict[str, Project]:
    alice = alice_project.owner
    priced_provider(alice)
    priced_provider(alice, "unpriced", prices=False)
    other = Project.objects.create(owner=alice, name="Other", status=Status.RUNNING)
    day_one = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    day_two = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    for _ in range(3):
        metered_call(alice_project, session_id="run-1", at=day_one)
    metered_call(alice_project, session_id="run-2", provider="unpriced", at=day_two)
    metered_call(other, session_id="run-3", model="other-model", usage=(10, 10, 0, 0), at=day_two)
    bobs = Project.objects.create(owner=bob, name="Bob's", status=Status.RUNNING)
    priced_provider(bob)
    metered_call(bobs, session_id="run-1", usage=(999_999, 0, 0, 0), at=day_one)
    return {"main": alice_project, "other": other, "bobs": bobs}


def get(client: TokenClient, **params: Any) -> Any:
    response = client.get(f"{API}/usage", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_totals_are_the_callers_own(alice_api: TokenClient, ledger: dict[str, Project]) -> None:
    body = get(alice_api)
    assert body["totals"] == {
        "calls": 5,
        "input_tokens": 4010,
        "output_tokens": 810,
        "cache_read_tokens": 120,
        "cache_write_tokens": 0,
        "tokens": 4940,
        "cost": "0.004275",  # 3 x 0.001415 + 10 x $1 + 10 x $2 per million; one unpriced
        "unpriced_calls": 1,
        "cost_label": "$0.0043 + 1 call without a price",
    }
    assert body["groups"] == [] and body["group_by"] is None


def test_filters(alice_api: TokenClient, ledger: dict[str, Project]) -> None:
    main, other = ledger["main"].public_id, ledger["other"].public_id
    assert get(alice_api, project=main)["totals"]["calls"] == 4
    assert get(alice_api, project=other)["totals"]["tokens"] == 20
    assert get(alice_api, session="run-1")["totals"]["cost"] == "0.004245"
    assert get(alice_api, provider="unpriced")["totals"]["cost_label"] == "price unknown"
    assert get(alice_api, model="other-model")["totals"]["calls"] == 1
    assert get(alice_api, **{"from": "2026-03-02"})["totals"]["calls"] == 2
    assert get(alice_api, to="2026-03-01")["totals"]["calls"] == 3
    assert get(alice_api, **{"from": "2026-03-01", "to": "2026-03-01"})["totals"]["calls"] == 3
    # Another person's project or session is simply not among the caller's calls.
    assert get(alice_api, project=ledger["bobs"].public_id)["totals"]["calls"] == 0


def test_grouping(alice_api: TokenClient, ledger: dict[str, Project]) -> None:
    days = get(alice_api, group_by="day")
    assert [(group["key"], group["totals"]["calls"]) for group in days["groups"]] == [
        ("2026-03-01", 3),
        ("2026-03-02", 2),
    ]
    projects = get(alice_api, group_by="project")["groups"]
    assert [(group["key"], group["label"]) for group in projects] == [
        (ledger["main"].public_id, "Sales dashboard"),
        (ledger["other"].public_id, "Other"),
    ]
    models = {group["key"] for group in get(alice_api, group_by="model")["groups"]}
    assert models == {"metered/scripted", "unpriced/scripted", "metered/other-model"}
    sessions = get(alice_api, group_by="session", project=ledger["main"].public_id)["groups"]
    assert {group["key"]: group["totals"]["calls"] for group in sessions} == {
        "run-1": 3,
        "run-2": 1,
    }


def test_an_outsider_sees_only_their_own(bob_api: TokenClient, ledger: dict[str, Project]) -> None:
    body = get(bob_api, group_by="project")
    assert body["totals"]["calls"] == 1
    assert [group["key"] for group in body["groups"]] == [ledger["bobs"].public_id]


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "user"},
        {"from": "yesterday"},
        {"to": "2026-02-30"},
        {"to": "0"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"project": "../../etc"},
        {"session": "no spaces please"},
        {"provider": "a" * 65},
        {"colour": "blue"},
    ],
)
def test_bad_filters_are_4xx(alice_api: TokenClient, params: dict[str, str]) -> None:
    response = alice_api.get(f"{API}/usage", params)
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "validation_error"


def test_needs_authentication(anonymous_api: TokenClient) -> None:
    assert anonymous_api.get(f"{API}/usage").status_code == 401


def test_openapi_documents_it(anonymous_api: TokenClient) -> None:
    schema = anonymous_api.get(f"{API}/openapi.json").json()
    operation = schema["paths"]["/api/v1/usage"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert names == {
        "project",
        "session",
        "provider",
        "model",
        "from",
        "to",
        "group_by",
        "organisation",
    }
    assert "UsageOut" in str(operation["responses"]["200"])
    assert {"401", "422"} <= set(operation["responses"])


def test_usage_by_organisation_and_role(alice: User, bob: User) -> None:
    """Admins and owners read all of an organisation's calls and group them by person;
    members read the calls of the projects they can see, never by person; outsiders
    nothing; a personal organisation's calls stay its person's."""
    from accounts.tokens import create_api_token
    from organisations.models import Membership, Organisation
    from organisations.roles import Role

    team = Organisation.objects.create(name="Acme")
    Membership.objects.create(organisation=team, user=alice, role=Role.OWNER)
    Membership.objects.create(organisation=team, user=bob, role=Role.MEMBER)
    priced_provider(alice)
    priced_provider(bob)
    from accounts.models import CustomProvider
    from organisations.personal import personal_organisation_of

    CustomProvider.objects.create(
        organisation=team, user=alice, name="metered", base_url="http://127.0.0.1:9/v1",
        model_ids=["scripted"], price_input=1, price_output=2,
    )  # fmt: skip
    alices = Project.objects.create(owner=alice, organisation=team, name="A", status=Status.RUNNING)
    bobs = Project.objects.create(owner=bob, organisation=team, name="B", status=Status.RUNNING)
    private = Project.objects.create(owner=bob, name="Private", status=Status.RUNNING)
    assert private.organisation == personal_organisation_of(bob)
    for project in (alices, bobs, private):
        metered_call(project)
    alice_api = TokenClient(create_api_token(alice, "t")[1])
    bob_api = TokenClient(create_api_token(bob, "t")[1])

    owner_view = get(alice_api, organisation=team.public_id, group_by="person")
    assert owner_view["totals"]["calls"] == 2
    assert {group["label"] for group in owner_view["groups"]} == {alice.email, bob.email}
    assert get(alice_api)["totals"]["calls"] == 2  # the team's and her (empty) personal one

    assert get(bob_api)["totals"]["calls"] == 3  # the team's projects and his private one
    assert get(bob_api, organisation=team.public_id)["totals"]["calls"] == 2
    refused = bob_api.get(f"{API}/usage", {"organisation": team.public_id, "group_by": "person"})
    assert refused.status_code == 403 and refused.json()["detail"] == {"needed_role": "admin"}
    outsider = alice_api.get(
        f"{API}/usage", {"organisation": personal_organisation_of(bob).public_id}
    )
    assert outsider.status_code == 404
