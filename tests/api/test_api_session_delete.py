"""Deleting (archiving) a chat session from both entry points (REST API and dashboard JSON):
the session leaves the list, its trace is kept in the Sprite's archive folder, a running
session is refused. Live stack, local Sprite, bridge and pi with the scripted model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from projects.models import Project
from tests.api.conftest import API, TokenClient
from tests.api.test_agent_run_state import api, api_post, api_state, dashboard, eventually
from tests.relay.conftest import owner, owner_token, running_project, stack
from tests.support.fixtures import scripted_model_server

__all__ = [
    "api",
    "dashboard",
    "owner",
    "owner_token",
    "running_project",
    "scripted_model_server",
    "stack",
]

pytestmark = pytest.mark.django_db(transaction=True)
JSON = "application/json"


def chat(api: TokenClient, project: Project, text: str) -> str:
    """A new session with one finished exchange; answers its id."""
    session_id = str(api_post(api, project, "sessions/new", {}).json()["session_id"])
    sent = api_post(api, project, "prompt", {"message": text, "session_id": session_id})
    assert sent.status_code == 202, sent.content
    eventually(lambda: not api_state(api, project, session_id)["busy"], what="the run's end")
    return session_id


def listed(api: TokenClient, project: Project) -> list[str]:
    answer = api.get(f"{API}/projects/{project.public_id}/sessions").json()
    return [session["id"] for session in answer["sessions"]]


def archived(api: TokenClient, project: Project) -> list[dict[str, Any]]:
    answer = api.get(f"{API}/projects/{project.public_id}/sessions/archived")
    assert answer.status_code == 200, answer.content
    found: list[dict[str, Any]] = answer.json()["archived"]
    return found


def test_sessions_are_archived_from_both_entry_points_and_a_running_one_is_refused(
    running_project: Project, api: TokenClient, dashboard: Client
) -> None:
    base = f"{API}/projects/{running_project.public_id}/sessions"
    kept = chat(api, running_project, "[[reply: keep]]")
    by_api = chat(api, running_project, "[[reply: archive me]]")
    trace = api.get(f"{base}/{by_api}/trace").content

    deleted = api.delete(f"{base}/{by_api}")
    assert deleted.status_code == 200, deleted.content
    answer = deleted.json()
    assert answer["ok"] is True and answer["session_id"] == by_api
    assert answer["current"] == kept  # the deleted one was current: handed over
    assert by_api not in listed(api, running_project) and kept in listed(api, running_project)
    (entry,) = [a for a in archived(api, running_project) if a["id"] == by_api]
    assert entry["file"] == answer["archived_as"] and entry["size"] == len(trace)
    # Gone from the session commands too: its trace is only in the archive now.
    assert api.get(f"{base}/{by_api}/trace").status_code == 404
    assert api.delete(f"{base}/{by_api}").status_code == 404

    running = api_post(api, running_project, "prompt", {"message": "[[slow: 60]]"}).json()
    busy = dashboard.post(
        f"/p/{running_project.public_id}/agent/sessions/delete/",
        json.dumps({"session_id": running["session_id"]}),
        content_type="application/json",
    )
    assert busy.status_code == 409, busy.content
    assert "running a prompt" in busy.json()["message"]
    api_post(api, running_project, "abort", {"session_id": running["session_id"]})
    eventually(
        lambda: not api_state(api, running_project, running["session_id"])["busy"], what="idle"
    )
    by_dashboard = dashboard.post(
        f"/p/{running_project.public_id}/agent/sessions/delete/",
        json.dumps({"session_id": kept}),
        content_type="application/json",
    )
    assert by_dashboard.status_code == 200, by_dashboard.content
    assert kept not in listed(api, running_project)
    shown = dashboard.get(f"/p/{running_project.public_id}/agent/sessions/archived/").json()
    assert {by_api, kept} <= {a["id"] for a in shown["archived"]}


def test_archived_sessions_come_back_from_both_entry_points(
    running_project: Project, api: TokenClient, dashboard: Client
) -> None:
    base = f"{API}/projects/{running_project.public_id}/sessions"
    first = chat(api, running_project, "[[reply: first]]")
    second = chat(api, running_project, "[[reply: second]]")
    trace = api.get(f"{base}/{first}/trace").content
    for session_id in (first, second):
        assert api.delete(f"{base}/{session_id}").status_code == 200
    files = {a["id"]: a["file"] for a in archived(api, running_project)}

    by_api = api.post(f"{base}/archived/restore", {"file": files[first]}, content_type=JSON)
    assert by_api.status_code == 200, by_api.content
    assert by_api.json()["session_id"] == first
    assert first in listed(api, running_project)
    assert api.get(f"{base}/{first}/trace").content == trace
    by_dashboard = dashboard.post(
        f"/p/{running_project.public_id}/agent/sessions/restore/",
        json.dumps({"file": files[second]}),
        content_type="application/json",
    )
    assert by_dashboard.status_code == 200, by_dashboard.content
    assert by_dashboard.json()["session_id"] == second
    assert {first, second} <= set(listed(api, running_project))
    assert not {first, second} & {a["id"] for a in archived(api, running_project)}
    # Restored already: the bridge's 404 passes through, named.
    again = api.post(f"{base}/archived/restore", {"file": files[first]}, content_type=JSON)
    assert again.status_code == 404, again.content
    assert "archived session" in again.json()["message"]


@pytest.mark.parametrize("bad", ["x.jsonl", "../20261201T101010123456Z_a.jsonl", "", "/etc/passwd"])
def test_a_malformed_archive_name_is_refused_before_the_bridge(
    alice_project: Project, alice_client: Client, alice_api: TokenClient, bad: str
) -> None:
    refused = alice_client.post(
        f"/p/{alice_project.public_id}/agent/sessions/restore/",
        json.dumps({"file": bad}),
        content_type="application/json",
    )
    assert refused.status_code == 400, refused.content
    assert "archived session" in refused.json()["message"]
    answer = alice_api.post(
        f"{API}/projects/{alice_project.public_id}/sessions/archived/restore",
        {"file": bad},
        content_type=JSON,
    )
    assert answer.status_code == 422, answer.content


@pytest.mark.parametrize("bad", ["..", "a.b", "a_b", "-x"])
def test_a_malformed_session_id_is_refused_before_the_bridge(
    alice_project: Project, alice_client: Client, alice_api: TokenClient, bad: str
) -> None:
    # alice's project has no Sprite: an id that got past the check would fail differently.
    refused = alice_client.post(
        f"/p/{alice_project.public_id}/agent/sessions/delete/",
        json.dumps({"session_id": bad}),
        content_type="application/json",
    )
    assert refused.status_code == 400, refused.content
    assert "session id" in refused.json()["message"]
    answer = alice_api.delete(f"{API}/projects/{alice_project.public_id}/sessions/{bad}")
    assert answer.status_code in (404, 422), answer.content  # ".." never reaches a route


def test_an_outsider_cannot_delete_or_list_archived_sessions(
    alice_project: Project, bob_api: TokenClient, bob: User
) -> None:
    base = f"{API}/projects/{alice_project.public_id}/sessions"
    assert bob_api.delete(f"{base}/0a0a0a0a-0000-4000-8000-000000000000").status_code == 404
    assert bob_api.get(f"{base}/archived").status_code == 404
    restore = bob_api.post(
        f"{base}/archived/restore",
        {"file": "20261201T101010123456Z_a.jsonl"},
        content_type=JSON,
    )
    assert restore.status_code == 404
    outsider = Client()
    outsider.force_login(bob)
    answer = outsider.post(
        f"/p/{alice_project.public_id}/agent/sessions/delete/",
        json.dumps({"session_id": "0a0a0a0a-0000-4000-8000-000000000000"}),
        content_type="application/json",
    )
    assert answer.status_code == 404
