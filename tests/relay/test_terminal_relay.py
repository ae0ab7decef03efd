"""The terminal socket's refusals before any bridge is asked, and its close codes; the
dashboard's terminal views refuse outsiders and bad sizes. The whole path through a real
Sprite is tests/e2e/test_workspace_terminal.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from accounts.models import User
from projects.models import Project, Status
from projects.relay.terminal import (
    CLOSE_BRIDGE_UNREACHABLE,
    CLOSE_NOT_FOUND,
    CLOSE_NOT_RUNNING,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHENTICATED,
    FlowWindow,
    TerminalRelay,
    ack_total,
    browser_close,
)

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL_ID = "0123456789abcdef"


async def close_code(user: Any, public_id: str, terminal_id: str) -> int:
    path = f"/ws/projects/{public_id}/terminals/{terminal_id}/"
    communicator = WebsocketCommunicator(TerminalRelay(), path)
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {
        "kwargs": {"public_id": public_id, "terminal_id": terminal_id}
    }
    try:
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        closed = await communicator.receive_output(timeout=5)
        assert closed["type"] == "websocket.close"
        return int(closed["code"])
    finally:
        await communicator.disconnect()


def make_project(owner: User, status: str) -> Project:
    return Project.objects.create(
        owner=owner, name="Shell", status=status, sprite_name="starter-not-real"
    )


async def test_refusals_before_any_bridge_is_asked() -> None:
    owner = await sync_to_async(User.objects.create_user)("t-owner@example.com", "pw-long-1")
    outsider = await sync_to_async(User.objects.create_user)("t-out@example.com", "pw-long-1")
    running = await sync_to_async(make_project)(owner, Status.RUNNING)
    sleeping = await sync_to_async(make_project)(owner, Status.SLEEPING)

    assert await close_code(AnonymousUser(), running.public_id, TERMINAL_ID) == (
        CLOSE_UNAUTHENTICATED
    )
    assert await close_code(outsider, running.public_id, TERMINAL_ID) == CLOSE_NOT_FOUND
    for bad in ("..", "0123456789ABCDEF", "0123456789abcdef0", "x" * 300):
        assert await close_code(owner, running.public_id, bad) == CLOSE_NOT_FOUND, bad
    # Opening a terminal's socket never wakes a project (creating a terminal does).
    assert await close_code(owner, sleeping.public_id, TERMINAL_ID) == CLOSE_NOT_RUNNING
    await sync_to_async(sleeping.refresh_from_db)()
    assert sleeping.status == Status.SLEEPING


def test_bridge_close_codes_become_codes_a_browser_socket_may_get() -> None:
    assert browser_close(1000) == 1000
    assert browser_close(4404) == 4404
    assert browser_close(4408) == 4408
    assert browser_close(1009) == CLOSE_TOO_BIG
    assert browser_close(1011) == CLOSE_BRIDGE_UNREACHABLE
    assert browser_close(None) == CLOSE_BRIDGE_UNREACHABLE
    assert browser_close(1006) == CLOSE_BRIDGE_UNREACHABLE


def test_dashboard_terminal_views_refuse_outsiders_and_bad_sizes(
    alice: User, bob_client: Client, alice_client: Client
) -> None:
    project = make_project(alice, Status.RUNNING)
    base = f"/p/{project.public_id}/terminals/"
    assert bob_client.get(base).status_code == 404
    assert bob_client.post(base, {}, content_type="application/json").status_code == 404
    close = f"{base}{TERMINAL_ID}/close/"
    assert bob_client.post(close).status_code == 404
    for body in ({"cols": 0}, {"rows": 10_000}, {"cols": "80"}):
        answer = alice_client.post(base, body, content_type="application/json")
        assert answer.status_code == 400, body
        assert answer.json()["error"] == "invalid_field"
    # A malformed terminal id is a 404 before the bridge is asked.
    assert alice_client.post(f"{base}..%2F/close/").status_code == 404


async def test_the_flow_window_stops_at_its_limit_and_takes_only_sane_acks() -> None:
    window = FlowWindow(limit=100)
    window.add_sent(60)
    await asyncio.wait_for(window.wait_for_room(), 1)
    window.add_sent(60)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(window.wait_for_room(), 0.1)
    assert not window.ack(121)  # more than was sent
    assert not window.ack(True)
    assert window.ack(30)
    await asyncio.wait_for(window.wait_for_room(), 1)
    assert not window.ack(10)  # going back
    assert ack_total('{"type": "ack", "bytes": 5}') == 5
    assert ack_total('{"type": "input", "data": "ack"}') is None
    assert ack_total('{"type": "ack", "bytes": 5' + " " * 200 + "}") is None
