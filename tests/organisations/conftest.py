"""People in an organisation with each role, for the organisation tests."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from organisations.actions import create_organisation
from organisations.models import Membership, Organisation
from organisations.roles import Role
from tests.conftest import PASSWORD


@pytest.fixture
def team(alice: User) -> Organisation:
    """Alice's team: alice owns it."""
    return create_organisation(alice, "Acme")


def member_of(organisation: Organisation, email: str, role: Role) -> User:
    user = User.objects.create_user(email, PASSWORD)
    Membership.objects.create(organisation=organisation, user=user, role=role)
    return user


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
