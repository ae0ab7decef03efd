"""pi 1.6's run state from both entry points (REST API and dashboard JSON), on a real
project: prompt dispositions, the queue and taking it back, thinking levels per model,
session names. Live stack, local Sprite, bridge and pi with the scripted model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from bridge_agent import protocol
from projects.models import Project
from tests.api.conftest import API, TokenClient
from tests.relay.conftest import owner, owner_token, running_project, stack
from tests.support.fixtures import scripted_model_server

__all__ = ["owner", "owner_token", "running_project", "scripted_model_server", "stack"]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dashboard(owner: User) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def api(owner_token: str) -> Iterator[TokenClient]:
    yield TokenClient(owner_token)


def dashboard_post(client: Client, project: Project, path: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"/p/{project.public_id}/{path}", json.dumps(body), content_type="application/json"
    )


def api_post(client: TokenClient, project: Project, path: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"{API}/projects/{project.public_id}/{path}",
        json.dumps(body),
        content_type="application/json",
    )


def api_state(client: TokenClient, project: Project, session_id: str) -> dict[str, Any]:
    answer = client.get(f"{API}/projects/{project.public_id}/state", {"session_id": session_id})
    assert answer.status_code == 200, answer.content
    state: dict[str, Any] = answer.json()
    return state


def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_queued_follow_up_is_listed_and_taken_back_through_the_api(
    running_project: Project, api: TokenClient, dashboard: Client
) -> None:
    created = api_post(api, running_project, "sessions/new", {})
    assert created.status_code == 201, created.content
    session_id = created.json()["session_id"]
    started = api_post(
        api, running_project, "prompt", {"message": "[[slow: 60]]", "session_id": session_id}
    )
    assert started.status_code == 202, started.content
    assert started.json()["disposition"] == "started"
    queued = api_post(
        api, running_project, "follow-up", {"message": "api-take-back", "session_id": session_id}
    )
    assert queued.json()["disposition"] == "queued"
    eventually(
        lambda: (
            api_state(api, running_project, session_id)["queue"]["followUp"] == ["api-take-back"]
        ),
        what="the follow-up in the queue",
    )
    history = dashboard.get(
        f"/p/{running_project.public_id}/agent/history/", {"session_id": session_id}
    ).json()
    assert history["busy"] is True
    assert history["queue"] == {"steering": [], "followUp": ["api-take-back"]}

    taken = api_post(api, running_project, "queue/clear", {"session_id": session_id})
    assert taken.status_code == 200, taken.content
    assert taken.json() == {
        "session_id": session_id,
        "steering": [],
        "follow_up": ["api-take-back"],
    }
    # The dashboard's view calls the same function: nothing is left to take back.
    again = dashboard_post(
        dashboard, running_project, "agent/queue/clear/", {"session_id": session_id}
    )
    assert again.status_code == 200, again.content
    assert again.json()["follow_up"] == [] and again.json()["steering"] == []
    api_post(api, running_project, "abort", {"session_id": session_id})
    eventually(lambda: not api_state(api, running_project, session_id)["busy"], what="idle")


def test_the_thinking_levels_of_a_model_that_cannot_reason_are_only_off(
    running_project: Project, api: TokenClient, dashboard: Client
) -> None:
    configured = dashboard_post(
        dashboard, running_project, "agent/config/", {"thinking_level": "high"}
    )
    assert configured.status_code == 200, configured.content
    # pi clamps: the scripted custom model cannot reason.
    assert configured.json()["thinking_level"] == "off"
    assert configured.json()["thinking_levels"] == ["off"]
    session_id = configured.json()["session_id"]
    assert api_state(api, running_project, session_id)["thinking_levels"] == ["off"]


def test_sessions_are_named_at_creation_and_renamed_from_both(
    running_project: Project, api: TokenClient, dashboard: Client
) -> None:
    created = api_post(api, running_project, "sessions/new", {"name": "  Checkout\tredesign "})
    assert created.status_code == 201, created.content
    session_id = created.json()["session_id"]

    def listed_name() -> str | None:
        sessions = api.get(f"{API}/projects/{running_project.public_id}/sessions").json()
        return next(s["name"] for s in sessions["sessions"] if s["id"] == session_id)

    assert listed_name() == "Checkout redesign"
    renamed = dashboard_post(
        dashboard,
        running_project,
        "agent/sessions/rename/",
        {"session_id": session_id, "name": "<b>bold</b> plan"},
    )
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["name"] == "<b>bold</b> plan"  # text; the page never parses it
    renamed = api_post(
        api, running_project, "sessions/rename", {"session_id": session_id, "name": "Final"}
    )
    assert renamed.status_code == 200, renamed.content
    assert renamed.json() == {"ok": True, "session_id": session_id, "name": "Final"}
    assert listed_name() == "Final"


@pytest.mark.parametrize(
    "name", ["", "   ", "\u200b\u202e", "n" * (protocol.MAX_SESSION_NAME_CHARS + 1)]
)
def test_a_bad_session_name_is_refused_by_both_before_the_bridge(
    alice_project: Project, alice_client: Client, alice_api: TokenClient, name: str
) -> None:
    # alice's project has no Sprite: a name that got past the check would fail differently.
    refused = dashboard_post(alice_client, alice_project, "agent/sessions/rename/", {"name": name})
    assert refused.status_code == 400, refused.content
    assert "name" in refused.json()["message"]
    refused = api_post(alice_api, alice_project, "sessions/rename", {"name": name})
    assert refused.status_code in (400, 422), refused.content
    refused = api_post(alice_api, alice_project, "sessions/new", {"name": name})
    assert refused.status_code in (400, 422), refused.content
