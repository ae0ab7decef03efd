"""Fixtures for the relay tests: on the live stack (daphne + Celery, from tests/conftest.py),
real bridges and pi, the scripted model server, and websocket viewers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from accounts.models import User
from accounts.tokens import create_api_token
from projects.actions import create_project, destroy_project
from projects.models import Project, Status
from tests.e2e.helpers import use_scripted_model, wait_for_status
from tests.relay.viewer import Viewer
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

__all__ = ["scripted_model_server"]

PASSWORD = "pw-long-enough-1"


@pytest.fixture
def stack(live_stack: LiveStack, settings: object) -> LiveStack:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    return live_stack


@pytest.fixture
def owner(stack: LiveStack, scripted_model_server: ScriptedModelServer) -> User:
    user = User.objects.create_user("relay-owner@example.com", PASSWORD)
    use_scripted_model(user, scripted_model_server.base_url)
    return user


@pytest.fixture
def owner_token(owner: User) -> str:
    return create_api_token(owner, "relay tests")[1]


@pytest.fixture
def running_project(owner: User) -> Iterator[Project]:
    """A real project on the local backend, bootstrapped by the live Celery worker."""
    project = create_project(owner, "Relay")
    wait_for_status(project, Status.RUNNING)
    yield project
    project.refresh_from_db()
    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)


@pytest.fixture
def open_viewer(stack: LiveStack) -> Iterator[Callable[..., Viewer]]:
    """Open viewers (``open_viewer(project, token, after=…)``); all are closed afterwards."""
    opened: list[Viewer] = []

    def open_(
        project: Project, token: str | None, after: int | None = None, **options: object
    ) -> Viewer:
        viewer = Viewer(stack.url, project.public_id, token, after, **options)  # type: ignore[arg-type]
        opened.append(viewer)
        return viewer

    yield open_
    for viewer in opened:
        viewer.close()
