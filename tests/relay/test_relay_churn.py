"""Churning viewers (issue 13, acceptance 1's last fault): 20 viewers on 5 projects that each
run a fast stream, every viewer connecting and leaving at random (a clean close or a cut
TCP connection) and coming back with the last event id it received, as the page does.

Stitched across its reconnects, every viewer's events must be its project's bridge log
exactly: none lost, none twice, the final ``agent_end`` and ``agent_settled`` included.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from threading import Thread
from typing import Any

import pytest

from accounts.models import User
from projects.actions import create_project, destroy_project
from projects.models import Project, Status
from tests.e2e.helpers import wait_for, wait_for_status
from tests.relay.bridge_truth import bridge_events, prompt
from tests.relay.fault_stack import FAST_STREAM
from tests.relay.test_relay_faults import _assert_exactly_the_log
from tests.relay.viewer import Viewer
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)

PROJECTS = 5
VIEWERS_PER_PROJECT = 4
SEED = 13


@pytest.fixture
def running_projects(owner: User) -> Iterator[list[Project]]:
    """Five running projects of one owner, bootstrapped side by side by the live worker."""
    projects = [create_project(owner, f"Churn {index}") for index in range(PROJECTS)]
    try:
        for project in projects:
            wait_for_status(project, Status.RUNNING)
        yield projects
    finally:
        for project in projects:
            project.refresh_from_db()
            if project.status != Status.DESTROYED:
                destroy_project(project)
        for project in projects:
            wait_for_status(project, Status.DESTROYED)


class ChurningViewer:
    """One person's page that keeps losing its socket: sessions of random length, each
    ended by a clean close or a cut connection, each next one subscribing after the last
    event id received so far. Stops once it has received ``agent_settled`` (pi 1.x's last
    event of a run, after ``agent_end``)."""

    def __init__(self, url: str, project: Project, token: str, rng: random.Random) -> None:
        self.url = url
        self.project = project
        self.token = token
        self.rng = rng
        self.events: list[dict[str, Any]] = []  # stitched across the sessions
        self.sessions = 0
        self.error: BaseException | None = None
        self.thread = Thread(target=self._run, name=f"churn-{project.public_id}", daemon=True)

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                after = self.events[-1]["id"] if self.events else 0
                viewer = Viewer(self.url, self.project.public_id, self.token, after)
                self.sessions += 1
                # A session's random length counts from its first events, as a page's does
                # in practice: on a loaded machine the first frame can take longer than the
                # shortest session, and sessions that end before anything arrives cut nothing
                # mid-stream (the test then starved, proving nothing).
                with contextlib.suppress(AssertionError):
                    viewer.wait(lambda v: bool(v.events), timeout=10, what="its first events")
                time.sleep(self.rng.uniform(0.05, 1.0))
                if self.rng.random() < 0.5:
                    viewer.close()
                else:
                    viewer.drop()
                    viewer.close()
                self.events.extend(viewer.events)
                if any(e["type"] == "agent_settled" for e in viewer.events):
                    return
        except BaseException as error:  # reported by the test, which joins the thread
            self.error = error


def test_twenty_churning_viewers_on_five_streaming_projects_miss_and_repeat_nothing(
    stack: LiveStack, running_projects: list[Project], owner_token: str
) -> None:
    rng = random.Random(SEED)
    churners = [
        ChurningViewer(stack.url, project, owner_token, random.Random(rng.random()))
        for project in running_projects
        for _ in range(VIEWERS_PER_PROJECT)
    ]
    for churner in churners:
        churner.thread.start()
    for project in running_projects:
        prompt(project, FAST_STREAM)
    for churner in churners:
        churner.thread.join(150)
        assert not churner.thread.is_alive(), "a viewer never got agent_settled"
        assert churner.error is None, f"a viewer failed: {churner.error!r}"

    histories: dict[str, list[dict[str, Any]]] = {}

    def runs_ended() -> bool:
        for project in running_projects:
            histories[project.public_id] = bridge_events(project)
        return all(h[-1]["type"] == "agent_settled" for h in histories.values())

    wait_for(runs_ended, timeout=30, interval=0.5, message="every run ended")
    for churner in churners:
        history = histories[churner.project.public_id]
        assert churner.events[0] == history[0], "the first session did not start at the log's start"
        _assert_exactly_the_log(churner.events, history)
        assert [e["type"] for e in churner.events[-2:]] == ["agent_end", "agent_settled"]
        # It really churned: reconnects in the middle of the stream, not one long session.
        assert churner.sessions >= 3, f"only {churner.sessions} sessions"
    streamed = [len(h) for h in histories.values()]
    assert min(streamed) > 50, f"a stream was too short to churn through: {streamed}"
