"""Organisations, invitations and members through the domain and the pages: who may do
what, what can never happen (an organisation without an owner, a reused link), and the
audit entry each action leaves."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import User
from organisations import actions, invitations, members
from organisations.current import current_organisation
from organisations.errors import OrganisationError, RoleRequired
from organisations.models import AuditAction, AuditEntry, Invitation, Membership, Organisation
from organisations.personal import personal_organisation_of
from organisations.roles import Role
from projects.actions import create_project, destroy_project
from projects.models import Project, Status
from tests.conftest import PASSWORD
from tests.organisations.conftest import client_of, member_of

pytestmark = pytest.mark.django_db


def actions_of(organisation: Organisation) -> list[str]:
    return list(
        AuditEntry.objects.filter(organisation=organisation)
        .order_by("created_at", "pk")
        .values_list("action", flat=True)
    )


def verified(user: User) -> User:
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    return user


def test_the_creator_owns_a_new_organisation_and_it_is_audited(alice: User) -> None:
    organisation = actions.create_organisation(alice, "  Acme   Labs ")
    assert organisation.name == "Acme Labs"
    assert Membership.objects.get(organisation=organisation, user=alice).role == Role.OWNER
    assert actions_of(organisation) == [AuditAction.ORGANISATION_CREATED]
    with pytest.raises(OrganisationError, match="name"):
        actions.create_organisation(alice, "   ")


def test_renaming_needs_an_admin(team: Organisation) -> None:
    member = member_of(team, "m@example.com", Role.MEMBER)
    with pytest.raises(RoleRequired, match="admin"):
        actions.rename_organisation(member, team, "Mine now")
    admin = member_of(team, "a@example.com", Role.ADMIN)
    actions.rename_organisation(admin, team, "Acme Inc")
    team.refresh_from_db()
    assert team.name == "Acme Inc"
    entry = AuditEntry.objects.get(organisation=team, action=AuditAction.ORGANISATION_RENAMED)
    assert entry.details == {"previous": "Acme"} and entry.actor_email == "a@example.com"


def test_deleting_is_for_owners_and_refused_while_projects_live(
    alice: User, team: Organisation
) -> None:
    admin = member_of(team, "a@example.com", Role.ADMIN)
    with pytest.raises(RoleRequired):
        actions.delete_organisation(admin, team)
    project = create_project(alice, "Shared", organisation=team)
    with pytest.raises(OrganisationError, match="destroy its projects first") as refused:
        actions.delete_organisation(alice, team)
    assert refused.value.status == 409
    Project.objects.filter(pk=project.pk).update(status=Status.DESTROYED)
    actions.delete_organisation(alice, team)
    assert not Organisation.objects.filter(pk=team.pk).exists()
    with pytest.raises(OrganisationError, match="personal"):
        actions.delete_organisation(alice, personal_organisation_of(alice))


def test_projects_are_created_in_the_organisation_and_audited(
    alice: User, team: Organisation
) -> None:
    viewer = member_of(team, "v@example.com", Role.VIEWER)
    with pytest.raises(RoleRequired, match="member"):
        create_project(viewer, "Nope", organisation=team)
    project = create_project(alice, "Shared", organisation=team)
    assert project.organisation == team
    destroy_project(project, actor=alice)
    destroy_project(project, actor=alice)  # twice: one entry
    assert actions_of(team)[-2:] == [AuditAction.PROJECT_CREATED, AuditAction.PROJECT_DELETED]
    assert actions_of(team).count(AuditAction.PROJECT_DELETED) == 1


def _secret_of(url: str) -> str:
    found = re.search(r"/invitations/([^/]+)/$", url)
    assert found, url
    return found.group(1)


def test_an_invitation_is_mailed_hashed_and_single_use(alice: User, team: Organisation) -> None:
    new = invitations.invite(alice, team, "newcomer@example.com", Role.MEMBER)
    secret = _secret_of(new.url)
    assert len(secret) >= 40
    stored = Invitation.objects.get(pk=new.invitation.pk)
    assert stored.token_hash == invitations.secret_hash(secret) and secret not in stored.token_hash
    assert stored.expires_at - stored.created_at == timedelta(days=7)
    assert len(mail.outbox) == 1 and new.url in mail.outbox[0].body
    assert mail.outbox[0].to == ["newcomer@example.com"]

    newcomer = verified(User.objects.create_user("Newcomer@example.com", PASSWORD))
    invitations.accept_invitation(newcomer, secret)
    assert Membership.objects.get(organisation=team, user=newcomer).role == Role.MEMBER
    with pytest.raises(OrganisationError, match="already been used"):
        invitations.accept_invitation(newcomer, secret)
    assert actions_of(team)[-2:] == [AuditAction.MEMBER_INVITED, AuditAction.INVITATION_ACCEPTED]
    # Neither the link nor its secret is in any audit entry.
    for entry in AuditEntry.objects.all():
        assert secret not in f"{entry.subject} {entry.details}"


def test_an_invitation_needs_the_invited_verified_address(alice: User, team: Organisation) -> None:
    secret = _secret_of(invitations.invite(alice, team, "x@example.com", Role.VIEWER).url)
    other = verified(User.objects.create_user("y@example.com", PASSWORD))
    with pytest.raises(OrganisationError, match=r"x@example\.com") as refused:
        invitations.accept_invitation(other, secret)
    assert refused.value.status == 403
    unverified = User.objects.create_user("x@example.com", PASSWORD)
    with pytest.raises(OrganisationError):
        invitations.accept_invitation(unverified, secret)
    assert not Membership.objects.filter(organisation=team, user=unverified).exists()


def test_expired_and_revoked_invitations_are_refused(alice: User, team: Organisation) -> None:
    expired = invitations.invite(alice, team, "late@example.com", Role.MEMBER)
    Invitation.objects.filter(pk=expired.invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(OrganisationError, match="expired"):
        invitations.invitation_for_secret(_secret_of(expired.url))
    revoked = invitations.invite(alice, team, "gone@example.com", Role.MEMBER)
    invitations.revoke_invitation(alice, team, revoked.invitation.pk)
    with pytest.raises(OrganisationError, match="withdrawn"):
        invitations.invitation_for_secret(_secret_of(revoked.url))
    with pytest.raises(OrganisationError, match="not valid"):
        invitations.invitation_for_secret("x" * 43)
    assert AuditAction.INVITATION_REVOKED in actions_of(team)
    assert list(invitations.pending_invitations(team)) == []


def test_inviters_give_at_most_their_own_role(team: Organisation) -> None:
    admin = member_of(team, "a@example.com", Role.ADMIN)
    with pytest.raises(OrganisationError, match="owner"):
        invitations.invite(admin, team, "boss@example.com", Role.OWNER)
    invitations.invite(admin, team, "peer@example.com", Role.ADMIN)
    member = member_of(team, "m@example.com", Role.MEMBER)
    with pytest.raises(RoleRequired):
        invitations.invite(member, team, "friend@example.com", Role.VIEWER)
    with pytest.raises(OrganisationError, match="already a member"):
        invitations.invite(admin, team, "M@example.com", Role.MEMBER)
    with pytest.raises(OrganisationError, match="not an e-mail"):
        invitations.invite(admin, team, "not an address", Role.MEMBER)


def test_only_owners_make_owners_and_one_owner_always_remains(
    alice: User, team: Organisation
) -> None:
    admin = member_of(team, "a@example.com", Role.ADMIN)
    member = member_of(team, "m@example.com", Role.MEMBER)
    with pytest.raises(OrganisationError, match="owner"):
        members.change_role(admin, team, member.pk, Role.OWNER)
    with pytest.raises(OrganisationError, match="owner"):
        members.change_role(admin, team, alice.pk, Role.MEMBER)
    members.change_role(admin, team, member.pk, Role.VIEWER)
    with pytest.raises(OrganisationError, match="at least one owner"):
        members.change_role(alice, team, alice.pk, Role.ADMIN)
    members.change_role(alice, team, admin.pk, Role.OWNER)
    members.change_role(admin, team, alice.pk, Role.MEMBER)  # another owner remains
    assert Membership.objects.get(organisation=team, user=alice).role == Role.MEMBER
    changed = AuditEntry.objects.filter(organisation=team, action=AuditAction.MEMBER_ROLE_CHANGED)
    assert changed.count() == 3


def test_removing_and_leaving(alice: User, team: Organisation) -> None:
    admin = member_of(team, "a@example.com", Role.ADMIN)
    member = member_of(team, "m@example.com", Role.MEMBER)
    with pytest.raises(OrganisationError, match="owner"):
        members.remove_member(admin, team, alice.pk)
    members.remove_member(admin, team, member.pk)
    assert not Membership.objects.filter(organisation=team, user=member).exists()
    with pytest.raises(OrganisationError, match="last owner"):
        members.leave(alice, team)
    members.leave(admin, team)
    with pytest.raises(OrganisationError, match="personal"):
        members.leave(alice, personal_organisation_of(alice))
    assert actions_of(team)[-2:] == [AuditAction.MEMBER_REMOVED, AuditAction.MEMBER_LEFT]


def test_the_current_organisation_follows_the_switch_and_falls_back(
    alice: User, bob: User, alice_client: Client
) -> None:
    team = actions.create_organisation(bob, "Bob's team")
    # Not a member: the switch is a 404 and the current organisation stays personal.
    assert alice_client.post(f"/organisations/{team.public_id}/switch/").status_code == 404
    Membership.objects.create(organisation=team, user=alice, role=Role.MEMBER)
    shared = create_project(bob, "Team project", organisation=team)
    mine = create_project(alice, "Solo project")
    home = alice_client.get("/")
    assert "Solo project" in home.text and "Team project" not in home.text
    assert alice_client.post(f"/organisations/{team.public_id}/switch/").status_code == 302
    home = alice_client.get("/")
    assert "Team project" in home.text and "Solo project" not in home.text
    assert "Bob&#x27;s team" in home.text  # the switcher names it
    # New projects are made in the current organisation.
    alice_client.post("/", {"name": "Made here", "description": ""})
    assert Project.objects.get(name="Made here").organisation == team
    # Removed: the next page falls back to the personal organisation.
    members.remove_member(bob, team, alice.pk)
    home = alice_client.get("/")
    assert "Solo project" in home.text and "Team project" not in home.text
    request = home.wsgi_request
    assert current_organisation(request) == personal_organisation_of(alice)
    assert shared.pk and mine.pk


def test_a_viewer_cannot_create_projects_from_the_home(alice: User, team: Organisation) -> None:
    viewer = member_of(team, "v@example.com", Role.VIEWER)
    client = client_of(viewer)
    client.post(f"/organisations/{team.public_id}/switch/")
    answer = client.post("/", {"name": "Nope", "description": ""})
    assert answer.status_code == 422 and "member role" in answer.text
    assert not Project.objects.filter(name="Nope").exists()


def test_the_organisation_page_shows_members_and_manages_them(
    alice: User, alice_client: Client, team: Organisation
) -> None:
    page = alice_client.get(f"/organisations/{team.public_id}/")
    assert page.status_code == 200 and "alice@example.com" in page.text
    answer = alice_client.post(
        f"/organisations/{team.public_id}/invitations/",
        {"email": "guest@example.com", "role": "viewer"},
        follow=True,
    )
    assert "guest@example.com" in answer.text
    link = re.search(r"data-invitation-link>([^<]+)<", answer.text)
    assert link and "/invitations/" in link.group(1)
    # The link is shown once.
    assert "data-invitation-link" not in alice_client.get(f"/organisations/{team.public_id}/").text
    audit = alice_client.get(f"/organisations/{team.public_id}/audit/")
    assert audit.status_code == 200 and "Member invited" in audit.text
    assert _secret_of(link.group(1)) not in audit.text


def test_outsiders_get_404_and_weak_roles_403_on_the_pages(
    team: Organisation, bob_client: Client
) -> None:
    assert bob_client.get(f"/organisations/{team.public_id}/").status_code == 404
    assert bob_client.get(f"/organisations/{team.public_id}/audit/").status_code == 404
    viewer = client_of(member_of(team, "v@example.com", Role.VIEWER))
    assert viewer.get(f"/organisations/{team.public_id}/").status_code == 200
    assert viewer.get(f"/organisations/{team.public_id}/audit/").status_code == 403
    answer = viewer.post(
        f"/organisations/{team.public_id}/invitations/", {"email": "x@example.com"}
    )
    assert answer.status_code == 403
    assert not Invitation.objects.filter(organisation=team).exists()


def test_the_invitation_link_signs_up_then_accepts(alice: User, team: Organisation) -> None:
    new = invitations.invite(alice, team, "fresh@example.com", Role.MEMBER)
    browser = Client()
    answer = browser.get(new.url.removeprefix("http://127.0.0.1:8000"))
    assert answer.status_code == 302 and answer["Location"] == "/invitations/accept/"
    page = browser.get("/invitations/accept/")
    assert "Sign up to accept" in page.text and "email=fresh%40example.com" in page.text
    # Signed up and verified (allauth) in the same browser: back to the invitation.
    user = verified(User.objects.create_user("fresh@example.com", PASSWORD))
    browser.force_login(user)
    from accounts.adapter import StarterAccountAdapter

    # Where allauth goes after sign-up (kept until the address is verified) and log-in.
    adapter = StarterAccountAdapter(page.wsgi_request)
    assert adapter.get_signup_redirect_url(page.wsgi_request) == "/invitations/accept/"
    assert adapter.get_login_redirect_url(page.wsgi_request) == "/invitations/accept/"
    accepted = browser.post("/invitations/accept/")
    assert accepted.status_code == 302
    assert Membership.objects.get(organisation=team, user=user).role == Role.MEMBER
    again = browser.get(new.url.removeprefix("http://127.0.0.1:8000"))
    assert again.status_code == 410 and "already been used" in again.text
    assert Client().get("/invitations/" + "y" * 43 + "/").status_code == 404


def test_the_admin_shows_organisations_invitations_and_a_read_only_audit_log(
    operator: User, alice: User, team: Organisation
) -> None:
    invitations.invite(alice, team, "guest@example.com", Role.VIEWER)
    admin = client_of(operator)
    page = admin.get(f"/admin/organisations/organisation/{team.pk}/change/")
    assert page.status_code == 200 and "alice@example.com" in page.text  # members inline
    listed = admin.get("/admin/organisations/invitation/")
    assert listed.status_code == 200 and "guest@example.com" in listed.text
    invitation = Invitation.objects.get(email="guest@example.com")
    shown = admin.get(f"/admin/organisations/invitation/{invitation.pk}/change/")
    assert shown.status_code == 200 and invitation.token_hash not in shown.text
    assert admin.get("/admin/organisations/invitation/add/").status_code == 403
    entry = AuditEntry.objects.filter(organisation=team).first()
    assert entry is not None
    assert admin.get("/admin/organisations/auditentry/").status_code == 200
    change = admin.post(f"/admin/organisations/auditentry/{entry.pk}/change/", {"subject": "x"})
    assert change.status_code == 403 or AuditEntry.objects.get(pk=entry.pk).subject != "x"
    assert (
        admin.post(
            f"/admin/organisations/auditentry/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
