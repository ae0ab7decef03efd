"""`/agent/`: a GET shows the user's general agent or offers to start it; only a POST
starts it (a link, a prefetch or a crawler following it creates nothing)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from projects.general_agent import ensure_general_agent
from projects.models import Kind, Project

pytestmark = pytest.mark.django_db


def general_agents(user: User) -> int:
    return Project.objects.filter(owner=user, kind=Kind.GENERAL_AGENT).count()


def test_get_without_an_agent_offers_to_start_it_and_creates_nothing(
    alice_client: Client, alice: User
) -> None:
    response = alice_client.get("/agent/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'method="post"' in page and "Start the general agent" in page
    assert general_agents(alice) == 0


def test_post_starts_the_agent_once_then_shows_it(alice_client: Client, alice: User) -> None:
    response = alice_client.post("/agent/")
    assert response.status_code == 302 and response["Location"] == "/agent/"
    assert general_agents(alice) == 1
    alice_client.post("/agent/")
    assert general_agents(alice) == 1
    page = alice_client.get("/agent/").content.decode()
    assert "Start the general agent" not in page and "js/workspace/main.js" in page


def test_get_with_an_agent_opens_its_workspace(alice_client: Client, alice: User) -> None:
    ensure_general_agent(alice)
    page = alice_client.get("/agent/").content.decode()
    assert "Start the general agent" not in page and "js/workspace/main.js" in page


def test_other_methods_are_refused(alice_client: Client, alice: User) -> None:
    assert alice_client.put("/agent/").status_code == 405
    assert general_agents(alice) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, db: None) -> None:
    for response in (client.get("/agent/"), client.post("/agent/")):
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Project.objects.filter(kind=Kind.GENERAL_AGENT).exists()
