"""The dashboard and the REST API send the same agent commands with the same rules.

Both entry points call `projects.bridge.agent`, whose limits come from the bridge's own
contract (`bridge_agent.protocol`): the longest message, which session ids pass, which
thinking levels exist, how long a compaction may take. Each rule is checked from both
sides, on a real project (live stack, local Sprite, bridge and pi with the scripted model).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from bridge_agent import protocol
from projects.bridge import agent
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


def test_a_message_at_the_limit_is_sent_and_one_character_more_is_refused_by_both(
    running_project: Project, dashboard: Client, api: TokenClient
) -> None:
    at_limit = "x" * protocol.MAX_MESSAGE_CHARS
    over = at_limit + "x"
    # A follow-up is accepted whether or not a run is going, so two in a row both land.
    sent = dashboard_post(
        dashboard, running_project, "agent/send/", {"message": at_limit, "mode": "follow_up"}
    )
    assert sent.status_code == 202, sent.content
    sent = api_post(api, running_project, "follow-up", {"message": at_limit})
    assert sent.status_code == 202, sent.content

    refused = dashboard_post(
        dashboard, running_project, "agent/send/", {"message": over, "mode": "follow_up"}
    )
    assert refused.status_code == 400
    assert f"at most {protocol.MAX_MESSAGE_CHARS:,} characters" in refused.json()["message"]
    refused = api_post(api, running_project, "follow-up", {"message": over})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "message"


@pytest.mark.parametrize("bad_id", ["../../etc", "has_underscore", "-leading-dash", "x" * 129])
def test_a_malformed_session_id_is_refused_by_both_before_the_bridge(
    alice_project: Project, alice_client: Client, alice_api: TokenClient, bad_id: str
) -> None:
    # alice's project has no Sprite: an id that got past the check would fail differently.
    refused = dashboard_post(
        alice_client, alice_project, "agent/send/", {"message": "hi", "session_id": bad_id}
    )
    assert refused.status_code == 400
    assert "not a session id" in refused.json()["message"]
    refused = api_post(alice_api, alice_project, "prompt", {"message": "hi", "session_id": bad_id})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "session_id"
    state = alice_api.get(f"{API}/projects/{alice_project.public_id}/state", {"session_id": bad_id})
    assert state.status_code == 422
    state = alice_client.get(f"/p/{alice_project.public_id}/agent/state/", {"session_id": bad_id})
    assert state.status_code == 400


def test_a_well_formed_unknown_session_id_reaches_the_bridge_from_both(
    running_project: Project, dashboard: Client, api: TokenClient
) -> None:
    unknown = "0196a1b2-0000-7000-8000-000000000000"
    state = dashboard.get(f"/p/{running_project.public_id}/agent/state/", {"session_id": unknown})
    assert state.status_code == 404
    assert state.json()["error"] == "unknown_session"
    state = api.get(f"{API}/projects/{running_project.public_id}/state", {"session_id": unknown})
    assert state.status_code == 404
    assert state.json()["error"] == "unknown_session"


def test_every_thinking_level_of_the_protocol_is_accepted_by_both_and_no_other(
    running_project: Project, dashboard: Client, api: TokenClient
) -> None:
    for level in protocol.THINKING_LEVELS:
        configured = dashboard_post(
            dashboard, running_project, "agent/config/", {"thinking_level": level}
        )
        assert configured.status_code == 200, (level, configured.content)
        configured = api_post(api, running_project, "config", {"thinking_level": level})
        assert configured.status_code == 200, (level, configured.content)

    refused = dashboard_post(
        dashboard, running_project, "agent/config/", {"thinking_level": "galaxy"}
    )
    assert refused.status_code == 400
    assert ", ".join(protocol.THINKING_LEVELS) in refused.json()["message"]
    refused = api_post(api, running_project, "config", {"thinking_level": "galaxy"})
    assert refused.status_code == 422


def test_the_control_plane_waits_for_a_compaction_at_least_as_long_as_the_bridge() -> None:
    # Both entry points compact through `agent.compact`, which waits this long; shorter, and
    # a slow compaction would end in a bare timeout instead of the bridge's own answer.
    assert agent.COMPACT_TIMEOUT.read is not None
    assert agent.COMPACT_TIMEOUT.read >= protocol.COMPACT_TIMEOUT


def test_history_gives_the_messages_and_the_cursor_read_before_them(
    running_project: Project, dashboard: Client, api: TokenClient, bob_api: TokenClient
) -> None:
    sent = api_post(api, running_project, "prompt", {"message": "[[reply: kept in history]]"})
    assert sent.status_code == 202, sent.content
    session_id = sent.json()["session_id"]
    url = f"{API}/projects/{running_project.public_id}/history"
    deadline = time.monotonic() + 60
    while True:
        history = api.get(url, {"session_id": session_id})
        assert history.status_code == 200, history.content
        body = history.json()
        if not body["busy"] and len(body["messages"]) >= 2:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.25)
    assert body["session_id"] == session_id
    assert body["messages"][0]["role"] == "user"
    assert "kept in history" in json.dumps(body["messages"][-1])
    # Every event of that run (it has ended) is at or before the cursor.
    state = api.get(f"{API}/projects/{running_project.public_id}/state").json()
    assert 0 < body["last_event_id"] <= state["last_event_id"]
    # The dashboard's history view is the same function.
    from_dashboard = dashboard.get(
        f"/p/{running_project.public_id}/agent/history/", {"session_id": session_id}
    ).json()
    assert from_dashboard["messages"] == body["messages"]
    assert bob_api.get(url).status_code == 404
