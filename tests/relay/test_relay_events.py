"""The relay against the live stack: real daphne, Redis, bridge, pi and the scripted model.

Every test compares what a websocket viewer got with what the bridge itself keeps.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import httpx
import pytest

from projects.models import Project
from projects.relay.wire import connects_key
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from starter.redis import redis_client
from tests.e2e.helpers import wait_for
from tests.relay.bridge_truth import (
    bridge_events,
    bridge_port,
    established_connections_to,
    prompt,
    transcript_from_events,
    transcript_from_messages,
)
from tests.relay.published_events import PublishedEvents
from tests.relay.viewer import Viewer
from tests.support.live_stack import ROOT, LiveStack, free_port, web_command

pytestmark = pytest.mark.django_db(transaction=True)

OpenViewer = Callable[..., Viewer]


def _assert_exactly_once_in_order(ids: list[int]) -> None:
    assert ids == sorted(set(ids)), "duplicated or out of order"
    assert ids == list(range(ids[0], ids[0] + len(ids))), "a gap"


def test_subscriber_gets_every_event_after_its_cursor_once_in_order_then_live(
    running_project: Project, owner_token: str, open_viewer: OpenViewer
) -> None:
    watcher = open_viewer(running_project, owner_token, after=0)
    prompt(running_project, "[[reply: first answer]]")
    watcher.wait_event("agent_end")
    history = bridge_events(running_project)
    cursor = history[len(history) // 2]["id"]

    late = open_viewer(running_project, owner_token, after=cursor)
    late.wait(lambda v: v.ids[-1:] == [history[-1]["id"]], what="the replay")
    assert late.events == [e for e in history if e["id"] > cursor]

    start = len(late.events)
    prompt(running_project, "[[reply: second answer]]")
    late.wait_event("agent_end", start=start)
    wait_for(
        lambda: bridge_events(running_project)[-1]["id"] == late.ids[-1],
        timeout=10,
        message="the viewer to be level with the bridge",
    )
    assert late.events == bridge_events(running_project, after=cursor)
    _assert_exactly_once_in_order(late.ids)


def test_a_dropped_socket_resumed_with_its_last_id_misses_and_repeats_nothing(
    running_project: Project, owner_token: str, open_viewer: OpenViewer
) -> None:
    first = open_viewer(running_project, owner_token, after=0)
    session_id = prompt(running_project, "[[slow: 40]]")  # 4 s of deltas
    first.wait(
        lambda v: sum(e["type"] == "message_update" for e in v.events) >= 10,
        what="the reply to be streaming",
    )
    first.drop()
    received = first.events
    last_id = received[-1]["id"]

    second = open_viewer(running_project, owner_token, after=last_id)
    second.wait_event("agent_end", timeout=60)
    combined = received + second.events
    _assert_exactly_once_in_order([e["id"] for e in combined])
    assert combined == bridge_events(running_project)[: len(combined)]
    assert second.events[0]["id"] == last_id + 1
    wait_for(lambda: transcript_from_messages(running_project, session_id) != "", timeout=10)
    assert transcript_from_events(combined, session_id) == transcript_from_messages(
        running_project, session_id
    )
    assert "tick39" in transcript_from_events(combined, session_id)


def test_two_viewers_share_one_upstream_connection_which_ends_after_they_leave(
    running_project: Project, owner_token: str, open_viewer: OpenViewer
) -> None:
    port = bridge_port(running_project)
    connects_before = _upstream_connects(running_project)
    first = open_viewer(running_project, owner_token, after=None)
    second = open_viewer(running_project, owner_token, after=0)
    for viewer in (first, second):
        viewer.wait(
            lambda v: "connected" in v.relay_states or v.ids != [], what="the relay to be connected"
        )
    prompt(running_project, "[[reply: both of you]]")
    first.wait_event("agent_end")
    second.wait_event("agent_end")

    assert established_connections_to(port) == 1
    assert _upstream_connects(running_project) - connects_before == 1
    first.close()
    second.close()
    wait_for(
        lambda: established_connections_to(port) == 0,
        timeout=20,
        message="the upstream stream to end after the last viewer left",
    )


def test_a_restarted_bridge_is_followed_again_from_the_last_event_id_without_loss(
    running_project: Project, owner_token: str, open_viewer: OpenViewer
) -> None:
    viewer = open_viewer(running_project, owner_token, after=0)
    listener = PublishedEvents(running_project.public_id)
    try:
        prompt(running_project, "[[reply: before the restart]]")
        viewer.wait_event("agent_end")
        connects_before = _upstream_connects(running_project)

        # Stop and start the bridge (a new secret no longer does: it restarts nothing).
        backend = backend_for(running_project)
        run_sync(backend.sleep(running_project.sprite_name))
        run_sync(backend.wake(running_project.sprite_name))
        # Events written while the relay is still reconnecting must not be lost.
        prompt(running_project, "[[reply: right after the restart]]")
        start = len(viewer.events)
        viewer.wait(
            lambda v: any(e["type"] == "agent_end" for e in v.events[start:]),
            timeout=60,
            what="the second answer",
        )
        wait_for(
            lambda: bridge_events(running_project)[-1]["id"] == viewer.ids[-1],
            timeout=10,
            message="the viewer to be level with the bridge",
        )
    finally:
        published = listener.stop()

    assert viewer.events == bridge_events(running_project)
    assert "reset" not in [e["type"] for e in viewer.events]
    assert _upstream_connects(running_project) - connects_before == 1
    assert "upstream_down" in viewer.relay_states
    # The reader itself resumed where it stopped: every event it published names the one
    # before it, across the restart, so no viewer had to fill a gap from the bridge.
    ids = [event.id for _, event in published]
    assert [previous for previous, _ in published[1:]] == ids[:-1]
    assert ids[-1] == viewer.ids[-1]


@pytest.fixture
def second_web_process(stack: LiveStack) -> Iterator[str]:
    """Another web process of the same deployment (same database, Redis and data dir), on
    a port of its own: what STARTER_WEB_PROCESSES or a second host behind a proxy gives."""
    port = free_port()
    assert stack.log_dir is not None
    with (stack.log_dir / f"web-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            web_command(port), cwd=ROOT, env=stack.environment, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: _answers(url + "/accounts/login/"),
            timeout=30,
            message="the second web process to serve",
        )
        yield url
    finally:
        process.terminate()
        process.wait(15)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_viewers_on_two_web_processes_get_the_same_events_over_one_upstream(
    stack: LiveStack,
    second_web_process: str,
    running_project: Project,
    owner_token: str,
    open_viewer: OpenViewer,
) -> None:
    port = bridge_port(running_project)
    connects_before = _upstream_connects(running_project)
    here = open_viewer(running_project, owner_token, after=0)
    there = Viewer(second_web_process, running_project.public_id, owner_token, after=0)
    try:
        for viewer in (here, there):
            viewer.wait(
                lambda v: "connected" in v.relay_states or v.ids != [],
                what="the relay to be connected",
            )
        prompt(running_project, "[[slow: 20]]")
        here.wait_event("agent_end", timeout=60)
        there.wait_event("agent_end", timeout=60)
        wait_for(
            lambda: here.ids[-1:] == there.ids[-1:] == [bridge_events(running_project)[-1]["id"]],
            timeout=10,
            message="both viewers level with the bridge",
        )
        # Both processes have viewers; the Redis lock lets exactly one of them follow the
        # bridge, and the other gets every event through Redis.
        assert established_connections_to(port) == 1
        assert _upstream_connects(running_project) - connects_before == 1
    finally:
        there.close()
    assert here.events == there.events == bridge_events(running_project)
    _assert_exactly_once_in_order(here.ids)


def _upstream_connects(project: Project) -> int:
    value = redis_client().get(connects_key(project.public_id))
    return int(value) if value else 0
