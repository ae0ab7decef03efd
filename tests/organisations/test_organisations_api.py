"""The organisations API: the same rules as the pages (404 outsiders, 403 naming the role),
the invitation link returned once, and the audit log with its filters."""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.tokens import create_api_token
from organisations.models import Membership, Organisation
from organisations.roles import Role
from tests.api.conftest import API, TokenClient
from tests.organisations.conftest import member_of

pytestmark = pytest.mark.django_db


def api_of(user: User) -> TokenClient:
    return TokenClient(create_api_token(user, "tests")[1])


def test_create_list_get_rename_and_delete(alice: User) -> None:
    client = api_of(alice)
    created = client.post(f"{API}/organisations", {"name": "Acme"}, content_type="application/json")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["role"] == "owner" and not body["personal"]
    listed = client.get(f"{API}/organisations").json()
    assert [item["name"] for item in listed][1:] == ["Acme"] and listed[0]["personal"]
    one = f"{API}/organisations/{body['id']}"
    assert client.get(one).json()["name"] == "Acme"
    renamed = client.patch(one, {"name": "Acme Inc"}, content_type="application/json")
    assert renamed.json()["name"] == "Acme Inc"
    assert client.delete(one).status_code == 204
    assert client.get(one).status_code == 404
    personal = f"{API}/organisations/{listed[0]['id']}"
    refused = client.delete(personal)
    assert refused.status_code == 409 and refused.json()["error"] == "conflict"


def test_members_invitations_and_the_audit_log(alice: User, team: Organisation) -> None:
    client = api_of(alice)
    base = f"{API}/organisations/{team.public_id}"
    invited = client.post(
        f"{base}/invitations", {"email": "new@example.com", "role": "viewer"},
        content_type="application/json",
    )  # fmt: skip
    assert invited.status_code == 201, invited.text
    link = invited.json()["url"]
    assert "/invitations/" in link
    pending = client.get(f"{base}/invitations").json()
    assert [item["email"] for item in pending] == ["new@example.com"]
    assert "url" not in pending[0] and link not in str(pending)
    assert client.delete(f"{base}/invitations/{pending[0]['id']}").status_code == 204
    assert client.get(f"{base}/invitations").json() == []

    member = member_of(team, "m@example.com", Role.MEMBER)
    changed = client.patch(
        f"{base}/members/{member.pk}", {"role": "admin"}, content_type="application/json"
    )
    assert changed.json()["role"] == "admin"
    assert {item["email"] for item in client.get(f"{base}/members").json()} == {
        "alice@example.com", "m@example.com",
    }  # fmt: skip
    assert client.delete(f"{base}/members/{member.pk}").status_code == 204
    assert not Membership.objects.filter(organisation=team, user=member).exists()

    audit = client.get(f"{base}/audit").json()
    assert [item["action"] for item in audit["items"]] == [
        "member.removed", "member.role_changed", "invitation.revoked", "member.invited",
        "organisation.created",
    ]  # fmt: skip
    assert link.rsplit("/", 2)[-2] not in str(audit)
    only = client.get(f"{base}/audit?action=member.invited").json()
    assert only["count"] == 1 and only["items"][0]["subject"] == "new@example.com"
    assert client.get(f"{base}/audit?actor=nobody@example.com").json()["count"] == 0


def test_outsiders_get_404_and_weak_roles_403_naming_the_role(
    team: Organisation, bob: User
) -> None:
    base = f"{API}/organisations/{team.public_id}"
    outsider = api_of(bob)
    assert outsider.get(base).status_code == 404
    assert outsider.get(f"{base}/members").status_code == 404
    viewer = api_of(member_of(team, "v@example.com", Role.VIEWER))
    assert viewer.get(f"{base}/members").status_code == 200
    refused = viewer.get(f"{base}/audit")
    assert refused.status_code == 403
    assert refused.json()["error"] == "role_required"
    assert refused.json()["detail"] == {"needed_role": "admin"}
    refused = viewer.post(
        f"{base}/invitations", {"email": "x@example.com"}, content_type="application/json"
    )
    assert refused.status_code == 403


def test_an_admin_cannot_invite_an_owner(team: Organisation) -> None:
    admin = api_of(member_of(team, "a@example.com", Role.ADMIN))
    refused = admin.post(
        f"{API}/organisations/{team.public_id}/invitations",
        {"email": "boss@example.com", "role": "owner"},
        content_type="application/json",
    )
    assert refused.status_code == 403 and "owner" in refused.json()["message"]
    bad = admin.post(
        f"{API}/organisations/{team.public_id}/invitations",
        {"email": "boss@example.com", "role": "emperor"},
        content_type="application/json",
    )
    assert bad.status_code == 422


def test_ids_too_large_for_the_database_are_refused_not_500(
    alice: User, team: Organisation
) -> None:
    client = api_of(alice)
    base = f"{API}/organisations/{team.public_id}"
    assert client.delete(f"{base}/members/{2**64}").status_code == 422
    assert client.delete(f"{base}/invitations/{2**64}").status_code == 422
    assert client.delete(f"{base}/members/{2**63 - 1}").status_code == 404
