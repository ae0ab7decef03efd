"""Fixtures shared by every Django-side test: people with different relations to a project.

Like healthchecks' hc/test.py: an owner (alice), an outsider (bob) and an operator.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from projects.models import Project, Status

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob@example.com", PASSWORD)


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_superuser("ops@example.com", PASSWORD)


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def alice_project(alice: User) -> Project:
    return Project.objects.create(
        owner=alice, name="Sales dashboard", status=Status.RUNNING, sprite_name="starter-test"
    )
