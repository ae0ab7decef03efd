"""The organisation contract: every user has a personal organisation they own; a project's
lookup is decided by membership (404 for outsiders) and role (403 naming the role)."""

from __future__ import annotations

import pytest
from django.http import Http404

from accounts.models import User
from organisations.errors import RoleRequired
from organisations.models import Membership, Organisation
from organisations.personal import personal_organisation_of
from organisations.roles import Ability, Role, allows
from projects.lookup import find_project_for_user, get_project_for_user
from projects.models import Project

pytestmark = pytest.mark.django_db


def test_a_new_user_owns_a_personal_organisation(alice: User) -> None:
    organisation = Organisation.objects.get(personal_of=alice)
    assert organisation.is_personal
    assert Membership.objects.get(organisation=organisation, user=alice).role == Role.OWNER
    assert personal_organisation_of(alice) == organisation  # made once


def test_a_project_made_without_an_organisation_joins_its_owners_personal_one(
    alice_project: Project, alice: User
) -> None:
    assert alice_project.organisation == personal_organisation_of(alice)


@pytest.mark.parametrize(
    ("role", "ability", "allowed"),
    [
        (Role.VIEWER, Ability.VIEW, True),
        (Role.VIEWER, Ability.USE, False),
        (Role.MEMBER, Ability.USE, True),
        (Role.MEMBER, Ability.MANAGE, False),
        (Role.ADMIN, Ability.MANAGE, True),
        (Role.ADMIN, Ability.OWN, False),
        (Role.OWNER, Ability.OWN, True),
        (None, Ability.VIEW, False),
    ],
)
def test_the_role_table(role: str | None, ability: Ability, allowed: bool) -> None:
    assert allows(role, ability) is allowed


def test_project_lookup_by_membership_and_role(
    alice_project: Project, alice: User, bob: User
) -> None:
    public_id = alice_project.public_id
    assert find_project_for_user(bob, public_id) is None
    with pytest.raises(Http404):
        get_project_for_user(bob, public_id)

    Membership.objects.create(organisation=alice_project.organisation, user=bob, role=Role.VIEWER)
    found = get_project_for_user(bob, public_id)
    assert found.member_role == Role.VIEWER  # type: ignore[attr-defined]
    with pytest.raises(RoleRequired) as refused:
        get_project_for_user(bob, public_id, Ability.USE)
    assert "member role" in refused.value.message and "a viewer" in refused.value.message

    assert get_project_for_user(alice, public_id, Ability.OWN).member_role == Role.OWNER  # type: ignore[attr-defined]
    # A limit to another organisation finds nothing.
    other = personal_organisation_of(bob)
    assert find_project_for_user(bob, public_id, organisation_id=other.pk) is None


def test_an_inactive_member_finds_nothing(alice_project: Project, alice: User) -> None:
    alice.is_active = False
    alice.save()
    assert find_project_for_user(alice, alice_project.public_id) is None
