"""Preview tests run a real project (live stack, local backend) whose bridge proxies to a
sample app on a free port, standing in for the app the agent starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from projects.bridge_client import call_bridge
from projects.models import Project
from tests.preview.sample_app import SampleApp
from tests.relay.conftest import owner, owner_token, running_project, stack
from tests.support.fixtures import scripted_model_server

__all__ = ["owner", "owner_token", "running_project", "scripted_model_server", "stack"]


@pytest.fixture
def app_project(running_project: Project) -> Iterator[tuple[Project, SampleApp]]:
    with SampleApp() as app:
        call_bridge(running_project, "POST", "/starter/config", json_body={"app_port": app.port})
        yield running_project, app
