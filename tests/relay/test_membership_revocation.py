"""Removing a member ends their live connections at once: the project socket closes with
4404, and so does the terminal relay's wait (what it runs beside the bridge's copy loops);
someone else's socket stays open. The preview's per-request check is in
tests/preview/test_preview_proxy.py."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import Callable

import pytest
import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings

from accounts.models import User
from organisations.actions import create_organisation
from organisations.members import leave, remove_member
from organisations.models import Membership, Organisation
from organisations.roles import Role
from projects.broadcast import project_group
from projects.models import Project, Status
from projects.relay import watchers
from projects.relay.consumers import CLOSE_NOT_FOUND, ProjectEventsConsumer
from projects.relay.revocation import (
    membership_watches,
    stop_watching,
    until_told,
    watch_membership,
)
from projects.relay.terminal import _until_removed

pytestmark = pytest.mark.django_db(transaction=True)


def _team() -> tuple[User, User, Organisation, Project]:
    owner = User.objects.create_user("rv-owner@example.com", "pw-long-enough-1")
    member = User.objects.create_user("rv-member@example.com", "pw-long-enough-1")
    team = create_organisation(owner, "Revocable")
    Membership.objects.create(organisation=team, user=member, role=Role.MEMBER)
    project = Project.objects.create(
        owner=owner, organisation=team, name="Shared", status=Status.SLEEPING,
        sprite_name="starter-not-real",
    )  # fmt: skip
    return owner, member, team, project


async def _open(user: User, project: Project) -> WebsocketCommunicator:
    path = f"/ws/projects/{project.public_id}/"
    communicator = WebsocketCommunicator(ProjectEventsConsumer.as_asgi(), path)
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {"kwargs": {"public_id": project.public_id}}
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def test_a_removed_members_project_socket_closes_at_once() -> None:
    owner, member, team, project = await sync_to_async(_team)()
    theirs = await _open(member, project)
    owners = await _open(owner, project)
    await asyncio.sleep(0.5)  # the watch has joined the person's group
    assert await theirs.receive_nothing(timeout=0.2)
    await sync_to_async(remove_member)(owner, team, member.pk)
    closed = await theirs.receive_output(timeout=5)
    assert closed == {
        "type": "websocket.close",
        "code": CLOSE_NOT_FOUND,
        "reason": "No longer a member.",
    }
    # The owner's socket is untouched.
    assert await owners.receive_nothing(timeout=0.5)
    await owners.disconnect()
    await theirs.disconnect()


async def test_a_socket_opened_as_the_member_leaves_still_closes() -> None:
    """Removed between the lookup and joining the group: the check on joining catches it."""
    _owner, member, team, project = await sync_to_async(_team)()
    await sync_to_async(Membership.objects.filter(user=member, organisation=team).delete)()
    communicator = await _open(member, project)
    closed = await communicator.receive_output(timeout=5)
    assert closed["code"] == CLOSE_NOT_FOUND
    await communicator.disconnect()


async def test_the_terminal_relays_wait_ends_when_the_member_leaves() -> None:
    _owner, member, team, _project = await sync_to_async(_team)()
    wait = asyncio.create_task(_until_removed(member.pk, team.pk))
    await asyncio.sleep(0.5)
    assert not wait.done()
    await sync_to_async(leave)(member, team)
    assert await asyncio.wait_for(wait, 5) == (CLOSE_NOT_FOUND, "No longer a member.")


async def _sees(communicator: WebsocketCommunicator, expected: list[str]) -> None:
    """Presence frames arrive until one lists exactly `expected` (within 10 s). A socket
    may get the same list twice: sent to it on subscribing, and through the group."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    seen: list[list[str]] = []
    while loop.time() < deadline:
        try:
            frame = json.loads(await communicator.receive_from(timeout=deadline - loop.time()))
        except TimeoutError:
            break
        if frame.get("kind") == "presence":
            seen.append(list(frame["watchers"]))
            if seen[-1] == expected:
                return
    raise AssertionError(f"never saw {expected}; saw {seen}")


async def test_watchers_see_who_else_is_here_and_when_they_go() -> None:
    owner, member, _, project = await sync_to_async(_team)()
    first = await _open(owner, project)
    await first.send_to(text_data=json.dumps({"type": "subscribe", "after": None}))
    await _sees(first, ["rv-owner@example.com"])
    second = await _open(member, project)
    await second.send_to(text_data=json.dumps({"type": "subscribe", "after": None}))
    both = ["rv-member@example.com", "rv-owner@example.com"]
    await _sees(second, both)
    await _sees(first, both)
    await second.disconnect()
    await _sees(first, ["rv-owner@example.com"])
    await first.disconnect()


async def test_a_watcher_whose_web_process_died_drops_out_for_everyone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A web process that dies (a crash, a deploy) closes none of its sockets: their entries
    lapse, and the next refresh of a socket still open tells the project's viewers (the
    consumer's use of ``watching`` is the test above)."""
    monkeypatch.setattr(watchers, "REFRESH_SECONDS", 0.2)
    public_id = f"ghost{uuid.uuid4().hex[:10]}"
    redis = aioredis.Redis.from_url(settings.REDIS_URL)
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    viewers = await layer.new_channel()
    await layer.group_add(project_group(public_id), viewers)
    # The ghost's process refreshed its entry one last time and died: it lapses in 2 s.
    await redis.zadd(watchers.watchers_key(public_id), {"ghost@example.com\n0f0f": time.time() + 2})
    try:
        async with watchers.watching(redis, layer, public_id, "here@example.com") as now:
            assert now == ["ghost@example.com", "here@example.com"]
            told = await asyncio.wait_for(layer.receive(viewers), 5)
            assert told["watchers"] == now
            told = await asyncio.wait_for(layer.receive(viewers), 10)
            assert told == {"type": "presence.update", "watchers": ["here@example.com"]}
        told = await asyncio.wait_for(layer.receive(viewers), 5)
        assert told["watchers"] == []
    finally:
        await layer.group_discard(project_group(public_id), viewers)
        await redis.aclose()


async def test_a_removal_told_before_the_lookup_ends_is_kept_for_its_organisation() -> None:
    """The watch starts before the project lookup (its membership check): a removal that
    arrives in between is kept and ends the wait once the organisation is known; a removal
    from another organisation does not."""
    owner, member, team, _project = await sync_to_async(_team)()
    other = await sync_to_async(create_organisation)(owner, "Elsewhere")
    await sync_to_async(Membership.objects.create)(
        organisation=other, user=member, role=Role.MEMBER
    )
    kept, unrelated = await watch_membership(member.pk), await watch_membership(member.pk)
    assert kept is not None and unrelated is not None
    try:
        await sync_to_async(remove_member)(owner, team, member.pk)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while team.pk not in kept.removed_from and loop.time() < deadline:
            await asyncio.sleep(0.05)
        kept.bind(team.pk)
        unrelated.bind(other.pk)
        await asyncio.wait_for(until_told(kept), 1)
        assert not unrelated.removed.is_set()
    finally:
        stop_watching(kept)
        stop_watching(unrelated)


async def test_one_persons_sockets_share_one_channel_in_their_group() -> None:
    """A reconnect storm must not cost a group join and a channel-layer reader per socket."""
    _owner, member, _organisation, project = await sync_to_async(_team)()
    sockets = [await _open(member, project) for _ in range(3)]
    watches = membership_watches()
    assert watches is not None
    # A socket is accepted before its watch starts (and the first joins the group).
    await _until(lambda: member.pk in watches.joined and len(watches.watches[member.pk]) == 3)
    assert watches.joined == {member.pk}
    for socket in sockets:
        await socket.disconnect()
    await _until(lambda: member.pk not in watches.watches and member.pk not in watches.joined)


async def test_a_group_join_lost_while_the_reader_is_healthy_is_made_again() -> None:
    """A Redis error on one socket's group join, while the process's reader reads on: the
    group is joined again at once (not when the reader itself fails) and the removal still
    closes that socket."""
    owner, member, team, _project = await sync_to_async(_team)()
    watches = membership_watches()
    assert watches is not None
    owners = await watch_membership(owner.pk)  # the reader runs and is healthy
    assert owners is not None
    await _until(lambda: owner.pk in watches.joined and _reading(watches.reader))
    joins = watches.layer.group_add
    calls: list[str] = []

    async def failing_once(group: str, channel: str) -> None:
        calls.append(group)
        if len(calls) == 1:
            raise redis.exceptions.ConnectionError("injected: connection reset by peer")
        await joins(group, channel)

    watches.layer.group_add = failing_once
    theirs = None
    try:
        theirs = await watch_membership(member.pk)
        assert theirs is not None and member.pk not in watches.joined
        theirs.bind(team.pk)
        await _until(lambda: member.pk in watches.joined and owner.pk in watches.joined)
        await sync_to_async(remove_member)(owner, team, member.pk)
        await asyncio.wait_for(until_told(theirs), 2)
        assert not owners.removed.is_set()
    finally:
        watches.layer.group_add = joins
        stop_watching(owners)
        stop_watching(theirs)


def _reading(reader: asyncio.Task[None] | None) -> bool:
    """The reader has run (a task not yet started would see the rejoin flag first)."""
    return reader is not None and inspect.getcoroutinestate(reader.get_coro()) == "CORO_SUSPENDED"


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "not within 5 s"
        await asyncio.sleep(0.02)
