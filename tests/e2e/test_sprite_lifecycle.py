"""Issue 4 acceptance on the local backend, driven through the real Celery worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers

from accounts.models import User
from projects import actions
from projects.actions import create_project, destroy_project
from projects.broadcast import user_group
from projects.lifecycle import steps as lifecycle
from projects.models import Project, Status
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import processes_mentioning, wait_for, wait_for_status
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)


def _home(stack: LiveStack, project: Project) -> Path:
    return stack.data_dir / "sprites" / project.sprite_name / "home"


def _health(project: Project) -> int:
    endpoint = run_sync(
        backend_for(project).bridge_endpoint(project.sprite_name, project.bridge_token)
    )
    return httpx.get(endpoint.base_url + "/starter/health", timeout=5).status_code


def test_create_sleep_wake_destroy_on_the_local_backend(
    live_stack: LiveStack, settings: object, tmp_path: Path
) -> None:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    owner = User.objects.create_user("dora@example.com", "pw-long-enough-1")
    # Listen where the dashboard listens (the owner's group) while the project is created.
    # A layer instance of its own: channels-redis keeps asyncio locks per instance, and one
    # left locked by an earlier test's event loop in this process (parallel workers run the
    # files in other orders) was "bound to a different event loop" here.
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(owner.pk), channel)
    project = create_project(owner, "Lifecycle")

    async def collect_until_running() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while not received or received[-1]["status"] != Status.RUNNING:
            message = await asyncio.wait_for(layer.receive(channel), timeout=90)
            received.append(message["payload"])
            assert received[-1]["status"] != Status.ERROR, received[-1]
        return received

    updates = async_to_sync(collect_until_running)()
    steps = [(u["step"], u["done"], u["total"]) for u in updates if u["step"]]
    # Progress arrives step by step (n of m, increasing), then the running status.
    assert len(steps) >= 3, steps
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)
    assert all(0 < done <= total for _, done, total in steps)
    project.refresh_from_db()
    assert _health(project) == 200
    home = _home(live_stack, project)
    (home / "notes.txt").write_text("kept across sleep")

    actions.sleep(project)  # enqueued on commit (autocommit here)
    wait_for_status(project, Status.SLEEPING)
    assert processes_mentioning(str(home)) == []

    actions.wake(project)
    wait_for_status(project, Status.RUNNING)
    assert _health(project) == 200
    assert (home / "notes.txt").read_text() == "kept across sleep"

    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)
    assert not home.exists()
    wait_for(
        lambda: processes_mentioning(project.sprite_name) == [],
        timeout=10,
        message="no process left",
    )


def test_running_the_same_provision_twice_does_no_harm(
    live_stack: LiveStack, settings: object
) -> None:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    owner = User.objects.create_user("eve@example.com", "pw-long-enough-1")
    project = create_project(owner, "Twice")
    wait_for_status(project, Status.RUNNING)
    lifecycle.provision(project.pk)  # a duplicate delivery: nothing to do
    project.refresh_from_db()
    assert project.status == Status.RUNNING
    assert _health(project) == 200
    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)
