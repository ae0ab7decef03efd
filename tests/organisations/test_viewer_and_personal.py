"""What a role changes beyond the lookups: a viewer's terminal keys never reach the shell,
the general agent stays its user's own, and a project's live updates reach every member's
home screen."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.http import Http404

from accounts.models import User
from organisations.models import Membership
from organisations.personal import personal_organisation_of
from organisations.roles import Role
from projects.broadcast import member_ids_of_project
from projects.general_agent import ensure_general_agent, find_general_agent
from projects.lookup import find_project_for_user, get_project_for_user
from projects.models import Kind, Project
from projects.relay.terminal import ActivityClock, FlowWindow, _browser_to_bridge


class RecordingBridge:
    """Stands in for the bridge's terminal socket: keeps what the relay sends it."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, frame: Any) -> None:
        self.sent.append(frame)

    async def close(self) -> None:
        return None


def _browser(frames: list[dict[str, Any]]) -> Any:
    queue = [*frames, {"type": "websocket.disconnect"}]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def test_a_viewers_keys_and_resizes_never_reach_the_shell_but_its_acks_count() -> None:
    bridge = RecordingBridge()
    window = FlowWindow()
    window.add_sent(100)
    frames: list[dict[str, Any]] = [
        {"type": "websocket.receive", "text": "rm -rf ~\r"},
        {"type": "websocket.receive", "bytes": b"\x03"},
        {"type": "websocket.receive", "text": json.dumps({"type": "resize", "cols": 9, "rows": 9})},
        {"type": "websocket.receive", "text": json.dumps({"type": "ack", "bytes": 100})},
    ]
    left = asyncio.run(
        _browser_to_bridge(
            _browser(frames),
            bridge,  # type: ignore[arg-type]
            ActivityClock(0),
            window,
            read_only=True,
        )
    )
    assert left is None and bridge.sent == []
    assert window.acked == 100


def test_a_members_keys_do_reach_the_shell() -> None:
    bridge = RecordingBridge()
    frames = [
        {"type": "websocket.receive", "text": json.dumps({"type": "resize", "cols": 9, "rows": 9})}
    ]
    asyncio.run(
        _browser_to_bridge(_browser(frames), bridge, ActivityClock(0), FlowWindow())  # type: ignore[arg-type]
    )
    assert len(bridge.sent) == 1


@pytest.mark.django_db
def test_the_general_agent_stays_personal_in_a_shared_organisation(alice: User, bob: User) -> None:
    agent = ensure_general_agent(alice)
    assert agent.organisation == personal_organisation_of(alice)
    # Bob joins Alice's personal organisation, even as its owner: her agent stays hers.
    Membership.objects.create(
        organisation=personal_organisation_of(alice), user=bob, role=Role.OWNER
    )
    assert find_general_agent(bob) is None
    assert find_project_for_user(bob, agent.public_id) is None
    with pytest.raises(Http404):
        get_project_for_user(bob, agent.public_id)
    assert not Project.objects.for_user(bob).listed().filter(kind=Kind.GENERAL_AGENT).exists()
    own = ensure_general_agent(bob)
    assert own != agent and own.organisation == personal_organisation_of(bob)
    assert find_general_agent(bob) == own
    assert find_general_agent(alice) == agent


@pytest.mark.django_db
def test_a_projects_updates_go_to_every_member_of_its_organisation(
    alice: User, bob: User, alice_project: Project
) -> None:
    assert member_ids_of_project(alice_project.public_id) == [alice.pk]
    Membership.objects.create(organisation=alice_project.organisation, user=bob, role=Role.VIEWER)
    assert sorted(member_ids_of_project(alice_project.public_id)) == sorted([alice.pk, bob.pk])
