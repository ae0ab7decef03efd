"""A project's bridge SIGKILLed mid-stream, on the live stack: its keeper restarts it at once,
the relay's reconnect waits on the keeper's socket, and the viewer gets the interrupted run's
end and everything after it, each event once, within 3 s of the kill. When the keeper dies
too, beat's supervisor restarts the Sprite and wakes the relay at once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

import httpx
import pytest

from projects.broadcast import broadcast_lifecycle
from projects.models import Project
from projects.tasks import supervise_local_sprites
from sprites.backends import processes
from tests.e2e.helpers import wait_for
from tests.relay.bridge_truth import (
    bridge_events,
    bridge_port,
    bridge_python_pid,
    prompt,
    refuses_connections,
    sprite_pid,
    upstream_connects,
)
from tests.relay.viewer import Viewer
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)

OpenViewer = Callable[..., Viewer]
RECOVERY_BUDGET = 3.0


def test_a_bridge_killed_mid_stream_is_back_within_3_s_and_nothing_is_lost_or_repeated(
    stack: LiveStack, running_project: Project, owner_token: str, open_viewer: OpenViewer
) -> None:
    viewer = open_viewer(running_project, owner_token, after=0)
    session_id = prompt(running_project, "[[slow: 300]]")  # 30 s of deltas
    viewer.wait(
        lambda v: sum(e["type"] == "message_update" for e in v.events) >= 10,
        what="the reply to be streaming",
    )
    before = bridge_python_pid(running_project)
    killed = time.monotonic()
    os.kill(before, signal.SIGKILL)

    # The first event written after the kill is the interrupted run's end.
    def interrupted(v: Viewer) -> bool:
        return any(e["type"] == "agent_end" and e["data"].get("interrupted") for e in v.events)

    viewer.wait(interrupted, timeout=15, what="the interrupted run's end")
    recovered_after = time.monotonic() - killed
    assert recovered_after < RECOVERY_BUDGET, recovered_after
    assert bridge_python_pid(running_project) != before

    end = next(e for e in viewer.events if e["type"] == "agent_end")
    assert end["session_id"] == session_id
    assert end["data"]["reason"] == "bridge_restarted"
    response = httpx.get(
        f"{stack.url}/api/v1/projects/{running_project.public_id}/state",
        headers={"Authorization": f"Bearer {owner_token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["busy"] is False

    # The keeper dies too (the Sprite's whole tree): beat's supervisor restarts the Sprite
    # and wakes the relay, which is waiting out its longest backoff by then.
    connects = upstream_connects(running_project)
    port = bridge_port(running_project)
    for pid in processes.process_tree(sprite_pid(running_project)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: refuses_connections(port), timeout=10, message="the Sprite to be gone")
    # Refused at 0.2, 0.7 and 1.7 s, the upstream sleeps 2 s; this poke makes it try once
    # more, be refused again, and sleep its longest step (5 s).
    time.sleep(2.0)
    broadcast_lifecycle(running_project)
    time.sleep(0.3)
    assert supervise_local_sprites() == [running_project.sprite_name]
    supervised = time.monotonic()
    wait_for(
        lambda: upstream_connects(running_project) > connects,
        timeout=10,
        interval=0.02,
        message="the relay to reconnect",
    )
    assert time.monotonic() - supervised < 1.0

    # The stream goes on after the restarts: a new run, live, to the same socket.
    start = len(viewer.events)
    prompt(running_project, "[[reply: after the crash]]")
    viewer.wait_event("agent_end", start=start)
    wait_for(
        lambda: bridge_events(running_project)[-1]["id"] == viewer.ids[-1],
        timeout=10,
        message="the viewer to be level with the bridge",
    )
    assert viewer.events == bridge_events(running_project)  # 0 lost, 0 duplicated, in order
    ends = [e["data"].get("reason") for e in viewer.events if e["type"] == "agent_end"]
    assert ends == ["bridge_restarted", None]
