"""Preview tests run a real project (live stack, local backend) whose bridge proxies to a
sample app running inside the project's Sprite, standing in for the app the agent starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import User
from projects.actions import create_project, destroy_project
from projects.bridge.client import call_bridge
from projects.models import Project, Status
from tests.e2e.helpers import wait_for_status
from tests.preview.sample_app import SampleApp
from tests.relay.conftest import owner, owner_token, running_project, stack
from tests.support.fixtures import scripted_model_server

__all__ = ["owner", "owner_token", "running_project", "scripted_model_server", "stack"]


@pytest.fixture
def app_project(running_project: Project) -> Iterator[tuple[Project, SampleApp]]:
    with SampleApp(running_project) as app:
        call_bridge(running_project, "POST", "/starter/config", json_body={"app_port": app.port})
        yield running_project, app


@pytest.fixture
def second_app_project(owner: User) -> Iterator[tuple[Project, SampleApp]]:
    """Another running project of the same person, with an app of its own."""
    project = create_project(owner, "Neighbour")
    wait_for_status(project, Status.RUNNING)
    try:
        with SampleApp(project) as app:
            call_bridge(project, "POST", "/starter/config", json_body={"app_port": app.port})
            yield project, app
    finally:
        project.refresh_from_db()
        destroy_project(project)
        wait_for_status(project, Status.DESTROYED)
