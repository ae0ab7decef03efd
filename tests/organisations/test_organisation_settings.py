"""Provider keys, the Sprites token, custom providers and budgets belong to an organisation:
only its admins and owners read or change them (a member gets a 403 naming the role, an
outsider a 404), every change is audited by name only, and the gateway uses the project's
organisation's key, never its creator's personal one."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from accounts.tokens import create_api_token
from gateway import tokens as gateway_tokens
from gateway.calls import CallContext, Upstream
from gateway.proxy import call_context
from organisations import provider_settings
from organisations.current import SESSION_KEY, current_organisation
from organisations.errors import RoleRequired
from organisations.models import AuditAction, AuditEntry, Membership, Organisation
from organisations.personal import personal_organisation_of
from organisations.roles import Role
from projects.models import Project, Status
from projects.secrets import remove_project_secret, set_project_secret

pytestmark = pytest.mark.django_db

API = "/api/v1/organisations"
TEAM_KEY = "sk-team-THE-VALUE-nobody-may-read-1"
PERSONAL_KEY = "sk-personal-of-the-member-2"


class TokenClient(Client):
    def __init__(self, token: str) -> None:
        super().__init__(headers={"Authorization": f"Bearer {token}"}, HTTP_HOST="localhost")


@pytest.fixture
def team(alice: User, bob: User) -> Organisation:
    """Alice's team, where she is the owner and Bob a member."""
    organisation = Organisation.objects.create(name="Acme")
    Membership.objects.create(organisation=organisation, user=alice, role=Role.OWNER)
    Membership.objects.create(organisation=organisation, user=bob, role=Role.MEMBER)
    return organisation


def api_of(user: User, organisation: Organisation | None = None) -> TokenClient:
    token, raw = create_api_token(user, "tests")
    if organisation is not None:
        token.organisation = organisation
        token.save(update_fields=["organisation"])
    return TokenClient(raw)


def all_audit_text() -> str:
    return json.dumps(
        [
            [entry.action, entry.subject, entry.details, entry.actor_email]
            for entry in AuditEntry.objects.all()
        ]
    )


def test_an_owner_sets_keys_token_providers_and_budget_and_the_audit_keeps_names_only(
    alice: User, team: Organisation
) -> None:
    api = api_of(alice)
    base = f"{API}/{team.public_id}"
    saved = api.put(f"{base}/keys/anthropic", {"key": TEAM_KEY}, content_type="application/json")
    assert saved.status_code == 200, saved.content
    assert TEAM_KEY.encode() not in saved.content
    assert {k["provider"] for k in saved.json() if k["has_key"]} == {"anthropic"}
    token = api.put(
        f"{base}/sprites-token", {"token": "fly-THE-TOKEN-3"}, content_type="application/json"
    )
    assert token.status_code == 200 and token.json()["has_token"] is True
    provider = api.put(
        f"{base}/custom-providers/team-llm",
        {
            "api": "openai-completions",
            "base_url": "http://gpu:8000/v1",
            "model_ids": ["m"],
            "api_key": "custom-THE-KEY-4",
        },
        content_type="application/json",
    )
    assert provider.status_code == 200, provider.content
    budget = api.put(f"{base}/budget", {"monthly_budget": "30"}, content_type="application/json")
    assert budget.status_code == 200 and budget.json()["monthly_budget"] == "30.00"
    assert api.put(f"{base}/budget", {"monthly_budget": "45.5"}, content_type="application/json")
    assert api.delete(f"{base}/keys/anthropic").status_code == 204
    assert api.delete(f"{base}/sprites-token").status_code == 204
    assert api.delete(f"{base}/custom-providers/team-llm").status_code == 204

    team.refresh_from_db()
    assert team.api_key_map() == {} and team.sprites_token == ""
    entries = list(AuditEntry.objects.filter(organisation=team).order_by("pk"))
    assert [(e.action, e.subject) for e in entries] == [
        (AuditAction.KEY_SET, "anthropic"),
        (AuditAction.SPRITES_TOKEN_SET, "Sprites token"),
        (AuditAction.CUSTOM_PROVIDER_SAVED, "team-llm"),
        (AuditAction.BUDGET_CHANGED, "monthly budget"),
        (AuditAction.BUDGET_CHANGED, "monthly budget"),
        (AuditAction.KEY_REMOVED, "anthropic"),
        (AuditAction.SPRITES_TOKEN_CLEARED, "Sprites token"),
        (AuditAction.CUSTOM_PROVIDER_REMOVED, "team-llm"),
    ]
    assert entries[3].details == {"old": None, "new": "30.00"}
    assert entries[4].details == {"old": "30.00", "new": "45.50"}
    assert {e.actor_email for e in entries} == {alice.email}
    text = all_audit_text()
    for secret in (TEAM_KEY, "fly-THE-TOKEN-3", "custom-THE-KEY-4"):
        assert secret not in text
    # The personal organisation's settings were not touched.
    assert personal_organisation_of(alice).api_key_map() == {}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/keys", None),
        ("put", "/keys/openai", {"key": "sk-member-tries"}),
        ("delete", "/keys/anthropic", None),
        ("get", "/sprites-token", None),
        ("put", "/sprites-token", {"token": "fly-member"}),
        ("get", "/custom-providers", None),
        ("get", "/budget", None),
        ("put", "/budget", {"monthly_budget": "1000"}),
    ],
)
def test_a_member_cannot_read_or_change_keys_or_budgets(
    bob: User, team: Organisation, method: str, path: str, body: dict[str, str] | None
) -> None:
    provider_settings.set_api_key(
        team, team.memberships.get(role=Role.OWNER).user, "anthropic", TEAM_KEY
    )
    call = getattr(api_of(bob), method)
    url = f"{API}/{team.public_id}{path}"
    response = call(url, body, content_type="application/json") if body else call(url)
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "role_required"
    assert response.json()["detail"] == {"needed_role": "admin"}
    assert "admin" in response.json()["message"]
    assert b"anthropic" not in response.content and TEAM_KEY.encode() not in response.content
    team.refresh_from_db()
    assert team.api_key_map() == {"anthropic": TEAM_KEY}
    assert not AuditEntry.objects.filter(actor=bob).exists()


def test_outsiders_and_tokens_limited_elsewhere_find_nothing(
    alice: User, bob: User, team: Organisation
) -> None:
    outsider = User.objects.create_user("eve@example.com", "pw-long-enough-1")
    assert api_of(outsider).get(f"{API}/{team.public_id}/keys").status_code == 404
    assert api_of(alice).get(f"{API}/no-such-org/keys").status_code == 404
    limited = api_of(alice, personal_organisation_of(alice))
    assert limited.get(f"{API}/{team.public_id}/keys").status_code == 404
    # …and the /settings aliases act on the personal organisation only.
    elsewhere = api_of(alice, team)
    assert elsewhere.get("/api/v1/settings/custom-providers").status_code == 404


def test_the_domain_refuses_a_member_with_the_role_named(bob: User, team: Organisation) -> None:
    with pytest.raises(RoleRequired) as refused:
        provider_settings.set_api_key(team, bob, "openai", "sk-x")
    assert refused.value.needed == Role.ADMIN
    with pytest.raises(RoleRequired):
        provider_settings.clear_sprites_token(team, bob)


def test_the_settings_page_shows_a_member_the_role_needed_and_no_key_names(
    bob: User, alice: User, team: Organisation
) -> None:
    provider_settings.set_api_key(team, alice, "anthropic", TEAM_KEY)
    provider_settings.save_custom_provider(
        team, alice, "team-secret-llm", "openai-completions", "http://gpu/v1", ["m"], "k"
    )
    client = Client()
    client.force_login(bob)
    session = client.session
    session[SESSION_KEY] = team.public_id
    session.save()
    page = client.get("/settings/").content.decode()
    assert "Organisation: Acme" in page
    assert "admin" in page and "data-manage-note" in page
    # No settings card, no "key set" mark (the model list for defaults still names the
    # organisation's models: members pick them in every chat anyway).
    assert 'aria-label="Provider team-secret-llm"' not in page
    assert "Key set" not in page and "key set" not in page
    assert TEAM_KEY not in page
    assert client.post("/settings/api-keys/", {"provider": "openai", "key": "x"}).status_code == 403
    assert client.get("/budget/panel/").status_code == 403
    assert client.post("/budget/", {"monthly_budget": "5"}).status_code == 403
    team.refresh_from_db()
    assert set(team.api_key_map()) == {"anthropic"}

    # The owner sees and changes them on the same page.
    owner = Client()
    owner.force_login(alice)
    session = owner.session
    session[SESSION_KEY] = team.public_id
    session.save()
    owner_page = owner.get("/settings/").content.decode()
    assert 'aria-label="Provider team-secret-llm"' in owner_page and "Key set" in owner_page
    assert owner.post("/budget/", {"monthly_budget": "5"}).status_code == 302


def test_the_current_organisation_is_the_sessions_while_a_member_else_the_personal_one(
    bob: User, team: Organisation
) -> None:
    client = Client()
    client.force_login(bob)
    request = client.get("/settings/").wsgi_request
    assert current_organisation(request) == personal_organisation_of(bob)
    request.session[SESSION_KEY] = team.public_id
    assert current_organisation(request) == team
    Membership.objects.filter(organisation=team, user=bob).delete()
    assert current_organisation(request) == personal_organisation_of(bob)
    request.session[SESSION_KEY] = ["not", "an", "id"]
    assert current_organisation(request) == personal_organisation_of(bob)


def test_the_gateway_uses_the_projects_organisations_key_and_budget(
    alice: User, bob: User, team: Organisation
) -> None:
    provider_settings.set_api_key(team, alice, "anthropic", TEAM_KEY)
    provider_settings.set_api_key(personal_organisation_of(bob), bob, "anthropic", PERSONAL_KEY)
    project = Project.objects.create(
        owner=bob, organisation=team, name="Team work", status=Status.RUNNING
    )
    context = call_context(gateway_tokens.token_for(project), "anthropic", "", "")
    assert isinstance(context, CallContext), context
    assert isinstance(context.upstream, Upstream)
    assert context.upstream.key == TEAM_KEY  # the organisation pays, not its creator
    assert context.organisation_id == team.pk and context.user_id == bob.pk

    # A creator who left (account deactivated) does not cut the team's project off.
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    assert isinstance(
        call_context(gateway_tokens.token_for(project), "anthropic", "", ""), CallContext
    )


def test_project_secrets_are_audited_by_name_never_value(
    alice: User, alice_project: Project
) -> None:
    set_project_secret(alice_project, "STRIPE_KEY", "sk_live_THE_VALUE", alice)
    remove_project_secret(alice_project, "STRIPE_KEY", alice)
    entries = AuditEntry.objects.filter(organisation=alice_project.organisation).order_by("pk")
    assert [(e.action, e.subject) for e in entries] == [
        (AuditAction.SECRET_SET, "STRIPE_KEY"),
        (AuditAction.SECRET_REMOVED, "STRIPE_KEY"),
    ]
    assert entries[0].details["project"] == alice_project.public_id
    assert "sk_live_THE_VALUE" not in all_audit_text()


def test_budget_changes_to_the_same_amount_are_not_audited_twice(
    alice: User, team: Organisation
) -> None:
    from gateway import budgets

    budgets.set_organisation_budget(team, alice, "10")
    budgets.set_organisation_budget(team, alice, Decimal("10"))
    assert AuditEntry.objects.filter(action=AuditAction.BUDGET_CHANGED).count() == 1


def test_a_key_change_resyncs_every_live_project_of_the_organisation_only(
    alice: User,
    bob: User,
    team: Organisation,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from projects import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.sync_project_environment, "delay", queued.append)
    by_bob = Project.objects.create(owner=bob, organisation=team, name="B", status=Status.RUNNING)
    asleep = Project.objects.create(
        owner=alice, organisation=team, name="S", status=Status.SLEEPING
    )
    Project.objects.create(owner=alice, organisation=team, name="Off", status=Status.ERROR)
    Project.objects.create(owner=bob, name="Bob's own", status=Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        provider_settings.set_api_key(team, alice, "openai", "sk-team")
    assert sorted(queued) == sorted([by_bob.pk, asleep.pk])
