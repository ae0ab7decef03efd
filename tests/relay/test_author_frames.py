"""Who sent a prompt reaches the open pages of its project at once: the control plane's
``prompt.author`` group message becomes an ``author`` frame for every viewer (a malformed
one is dropped). The page's side (a Sprite cannot name an author) is in
tests/e2e/test_organisation_invitations.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from projects.broadcast import broadcast_prompt_author, project_group
from tests.relay.test_membership_revocation import _open, _team

pytestmark = pytest.mark.django_db(transaction=True)


async def _first_frame_of_kind(communicator: Any, kind: str) -> dict[str, object]:
    """Frames of other kinds (presence) are skipped. Reading until a timeout is no option:
    the communicator cancels the consumer when a read times out."""
    while True:
        frame = json.loads(await communicator.receive_from(timeout=5))
        if frame.get("kind") == kind:
            return dict(frame)


async def test_every_viewer_hears_who_sent_a_prompt_and_malformed_messages_are_dropped() -> None:
    owner, member, _organisation, project = await sync_to_async(_team)()
    sockets = [await _open(owner, project), await _open(member, project)]
    for socket in sockets:
        await socket.send_to(text_data=json.dumps({"type": "subscribe", "after": None}))
    await asyncio.sleep(0.5)  # the feed has joined the project's group
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(
        project_group(project.public_id),
        {"type": "prompt.author", "session_id": "s1", "text": {"not": "text"}, "author": "x"},
    )
    await sync_to_async(broadcast_prompt_author)(
        project.public_id, "s1", "<b>make it blue</b>", "rv-member@example.com"
    )
    # The malformed message went first: had it made a frame, that frame would come first.
    for socket in sockets:
        assert await _first_frame_of_kind(socket, "author") == (
            {
                "kind": "author",
                "session_id": "s1",
                "text": "<b>make it blue</b>",
                "author": "rv-member@example.com",
            }
        )
        await socket.disconnect()
