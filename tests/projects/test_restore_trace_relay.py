"""Issue 15 acceptance 5 through the product: a person restores a checkpoint while a viewer
watches; the viewer is told (``checkpoint_restored``, no reset, ids going on), keeps getting
the next run's events, and the trace panel shows where the restore happened."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tokens import create_api_token
from bridge_agent import protocol
from projects.actions import create_project, destroy_project
from projects.bridge.client import call_bridge
from projects.models import Project, Status
from projects.sprite.checkpoints import create_checkpoint, restore_checkpoint
from tests.e2e.helpers import use_scripted_model, wait_for_status
from tests.relay.viewer import Viewer
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

__all__ = ["scripted_model_server"]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(
    live_stack: LiveStack, settings: object, scripted_model_server: ScriptedModelServer
) -> User:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    user = User.objects.create_user("restore-owner@example.com", "pw-long-enough-1")
    use_scripted_model(user, scripted_model_server.base_url)
    return user


@pytest.fixture
def project(owner: User) -> Iterator[Project]:
    project = create_project(owner, "Restore")
    wait_for_status(project, Status.RUNNING)
    yield project
    project.refresh_from_db()
    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)


def _prompt(project: Project, viewer: Viewer, text: str) -> None:
    settled = len([e for e in viewer.events if e["type"] == "agent_settled"])
    call_bridge(project, "POST", "/starter/prompt", json_body={"message": text})
    viewer.wait(
        lambda v: len([e for e in v.events if e["type"] == "agent_settled"]) > settled,
        timeout=60,
    )


def test_viewer_is_told_of_the_restore_and_goes_on_and_the_trace_marks_it(
    project: Project, owner: User, live_stack: LiveStack
) -> None:
    viewer = Viewer(live_stack.url, project.public_id, create_api_token(owner, "r")[1], 0)
    try:
        _prompt(project, viewer, "[[reply: kept before]]")
        checkpoint = create_checkpoint(project, "after one answer")
        _prompt(project, viewer, "[[reply: kept after]]")
        ids_before = viewer.ids
        restore_checkpoint(project, checkpoint.id)
        restored = viewer.wait_event(protocol.EVENT_CHECKPOINT_RESTORED, timeout=60)
        assert restored["id"] > max(ids_before)
        assert restored["data"]["checkpoint_id"] == checkpoint.id
        _prompt(project, viewer, "[[reply: after the restore]]")
        assert "reset" not in [e["type"] for e in viewer.events]
        assert viewer.ids == sorted(set(viewer.ids))  # in order, none twice
        session_id = restored["data"]["kept_sessions"][0]
    finally:
        viewer.close()

    person = Client()
    person.force_login(owner)
    page = person.get(reverse("projects:trace", args=[project.public_id, session_id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"Checkpoint {checkpoint.id}" in html and "restored here" in html
    assert "kept before" in html and "kept after" in html and "after the restore" in html
    assert html.index("kept after") < html.index("restored here") < html.index("after the restore")
