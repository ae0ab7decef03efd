"""Branching from the REST API and the dashboard alike, on a real project (live stack, local
Sprite, bridge and pi with the scripted model): the tree, edit-and-resend, switching
branch, duplicating, and the refusals (bad and unknown ids, someone else's project)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from projects.models import Project
from tests.api.conftest import API, TokenClient
from tests.relay.conftest import owner, owner_token, running_project, stack
from tests.support.fixtures import scripted_model_server
from tests.support.images import SVG_WITH_SCRIPT, b64

__all__ = ["owner", "owner_token", "running_project", "scripted_model_server", "stack"]

pytestmark = pytest.mark.django_db(transaction=True)


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def settled_messages(api: TokenClient, project: Project, session_id: str, count: int) -> list[str]:
    """The session's messages as ``role: text`` once it is idle with ``count`` of them."""
    deadline = time.monotonic() + 60
    while True:
        body = api.get(
            f"{API}/projects/{project.public_id}/history", {"session_id": session_id}
        ).json()
        if not body["busy"] and len(body["messages"]) == count:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    lines = []
    for message in body["messages"]:
        content = message["content"]
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        lines.append(f"{message['role']}: {text}")
    return lines


def test_branching_through_the_api_and_the_dashboard(
    running_project: Project, owner: User, owner_token: str, bob_api: TokenClient
) -> None:
    api = TokenClient(owner_token)
    dashboard = Client()
    dashboard.force_login(owner)
    base = f"{API}/projects/{running_project.public_id}"
    page = f"/p/{running_project.public_id}"

    sent = post(api, f"{base}/prompt", {"message": "first question"})
    assert sent.status_code == 202, sent.content
    session_id = sent.json()["session_id"]
    settled_messages(api, running_project, session_id, 2)
    assert (
        post(
            api, f"{base}/prompt", {"message": "second question", "session_id": session_id}
        ).status_code
        == 202
    )
    settled_messages(api, running_project, session_id, 4)

    tree = api.get(f"{base}/sessions/{session_id}/tree")
    assert tree.status_code == 200, tree.content
    nodes = {node["text"]: node for node in tree.json()["nodes"]}
    assert nodes["second question"]["parent_id"] == nodes["first question"]["id"]
    assert dashboard.get(f"{page}/agent/tree/", {"session_id": session_id}).json() == tree.json()

    # Edit-and-resend from the dashboard.
    edited = post(
        dashboard,
        f"{page}/agent/edit/",
        {
            "session_id": session_id,
            "entry_id": nodes["second question"]["id"],
            "message": "second, edited",
        },
    )
    assert edited.status_code == 202, edited.content
    assert settled_messages(api, running_project, session_id, 4)[2] == "user: second, edited"

    # The API switches back to the original branch.
    switched = post(
        api, f"{base}/sessions/{session_id}/branch", {"entry_id": nodes["second question"]["id"]}
    )
    assert switched.status_code == 200, switched.content
    active = [node["text"] for node in switched.json()["nodes"] if node["active"]]
    assert active == ["first question", "second question"]
    assert settled_messages(api, running_project, session_id, 4)[2] == "user: second question"

    # The trace panel's tree: both branches, the text as text.
    fragment = dashboard.get(f"{page}/sessions/{session_id}/branches/")
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert "second, edited" in html and "second question" in html
    assert html.count('class="branch-node') == 3

    # The dashboard's switch (an htmx form post) answers the tree fragment again.
    switched_back = dashboard.post(
        f"{page}/sessions/{session_id}/branches/switch/",
        {"entry_id": nodes["second question"]["id"]},
    )
    assert switched_back.status_code == 200

    # Refusals: malformed ids before the bridge, unknown ones from it, with pi's words.
    unknown = post(api, f"{base}/sessions/{session_id}/branch", {"entry_id": "0123abcd"})
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Entry not found: 0123abcd"
    malformed = post(
        api, f"{base}/sessions/{session_id}/edit", {"entry_id": "<b>x</b>", "message": "hi"}
    )
    assert malformed.status_code == 422
    malformed = post(
        dashboard,
        f"{page}/agent/edit/",
        {"session_id": session_id, "entry_id": "<b>x</b>", "message": "hi"},
    )
    assert malformed.status_code == 400 and "not a message" in malformed.json()["message"]
    unknown = post(
        dashboard,
        f"{page}/agent/edit/",
        {"session_id": session_id, "entry_id": "0123abcd", "message": "hi"},
    )
    assert unknown.status_code == 404 and unknown.json()["message"] == "Entry not found: 0123abcd"
    fragment = dashboard.post(
        f"{page}/sessions/{session_id}/branches/switch/", {"entry_id": "0123abcd"}
    )
    assert fragment.status_code == 404 and b"Entry not found: 0123abcd" in fragment.content

    # Someone else's project is a 404 for every branching operation.
    assert bob_api.get(f"{base}/sessions/{session_id}/tree").status_code == 404
    for path, body in (
        ("edit", {"entry_id": "0123abcd", "message": "hi"}),
        ("branch", {"entry_id": "0123abcd"}),
        ("clone", {}),
    ):
        assert post(bob_api, f"{base}/sessions/{session_id}/{path}", body).status_code == 404

    # Duplicate: a new current session with the branch on screen.
    cloned = post(api, f"{base}/sessions/{session_id}/clone", {})
    assert cloned.status_code == 201, cloned.content
    clone_id = cloned.json()["session_id"]
    assert clone_id != session_id
    assert api.get(f"{base}/sessions").json()["current"] == clone_id
    assert settled_messages(api, running_project, clone_id, 4) == settled_messages(
        api, running_project, session_id, 4
    )


@pytest.mark.django_db
def test_an_edit_checks_its_images_like_a_prompt_before_any_sprite(
    alice_project: Project, alice_client: Client, alice_api: TokenClient
) -> None:
    # alice's project has no Sprite: whatever reached a bridge would fail differently.
    svg = {"data": b64(SVG_WITH_SCRIPT), "mimeType": "image/png"}
    body = {"entry_id": "0123abcd", "message": "look", "images": [svg]}
    answers = [
        post(alice_api, f"{API}/projects/{alice_project.public_id}/sessions/s-1/edit", body),
        post(
            alice_client, f"/p/{alice_project.public_id}/agent/edit/", {"session_id": "s-1", **body}
        ),
    ]
    for answer in answers:
        assert answer.status_code == 415, answer.content
        assert answer.json()["error"] == "unsupported_media_type"
