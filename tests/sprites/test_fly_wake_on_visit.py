"""Wake on visit on ``fly``: a sleeping project's preview link wakes it, answers "Waking…",
and turns into the agent's app, which is a Sprite service started again by the wake step
(nobody restarts it by hand). The product runs as a live stack (web + worker) on the fly
backend, against the fake Sprites API with the real bridge in the fake Sprite."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from django.conf import settings as django_settings

from accounts.models import User
from projects.bridge.client import call_bridge
from projects.lifecycle import steps
from projects.models import Project, ProjectSecret, Status
from projects.preview.links import preview_host, preview_link
from projects.sprite import services as sprite_services
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import wait_for, wait_for_status
from tests.support.fake_sprites_api import RunningFake
from tests.support.fake_sprites_state import free_port
from tests.support.live_stack import LiveStack, start_live_stack

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "Hello from the agent's Sprite service"


@pytest.fixture
def fly_stack(settings: Any, fake_api: RunningFake) -> Iterator[LiveStack]:
    fly = {
        "STARTER_SPRITES_BACKEND": "fly",
        "STARTER_SPRITES_API_URL": fake_api.base_url,
        "STARTER_SPRITES_TOKEN": fake_api.token,
        # A queue of its own: the session's local live stack has a worker on the suite's
        # queue, which would take this stack's wake with the wrong backend.
        "CELERY_TASK_DEFAULT_QUEUE": os.environ["CELERY_TASK_DEFAULT_QUEUE"] + "-fly",
    }
    settings.STARTER_SPRITES_BACKEND = "fly"
    settings.STARTER_SPRITES_API_URL = fake_api.base_url
    settings.STARTER_SPRITES_TOKEN = fake_api.token
    data_dir = Path(tempfile.mkdtemp(prefix="fly-stack-"))
    stack = start_live_stack(str(django_settings.DATABASES["default"]["NAME"]), data_dir, fly)
    try:
        yield stack
    finally:
        stack.stop()


def _get(stack: LiveStack, host: str, cookie: str) -> httpx.Response:
    headers = {"Host": host, "Cookie": cookie}
    return httpx.get(stack.url + "/", headers=headers, timeout=30, follow_redirects=False)


def test_a_sleeping_fly_projects_preview_wakes_it_and_its_service_serves_again(
    fly_stack: LiveStack, alice: User
) -> None:
    project = Project.objects.create(owner=alice, name="Fly app", status=Status.CREATING)
    ProjectSecret.objects.create(project=project, name="GREETING", value=PAGE)
    steps.provision(project.pk)
    project.refresh_from_db()
    assert project.status == Status.RUNNING, project.status_message

    port = free_port()
    backend = backend_for(project)
    run_sync(backend.exec(project.sprite_name, "mkdir -p site"))
    call_bridge(
        project,
        "POST",
        "/starter/services",
        json_body={
            "name": "site",
            "type": "app",
            # The page comes from the project's secret: the service has the secrets.
            "command": f'echo "$GREETING" > index.html; exec python3 -m http.server {port}'
            " --bind 127.0.0.1",
            "cwd": "site",
            "port": port,
        },
    )
    sprite_services.reconcile(project)

    host = f"{preview_host(project.public_id, port)}:{urlparse(fly_stack.url).port}"
    link = preview_link(alice, project, dashboard_url=fly_stack.url, port=port)
    opened = httpx.post(
        fly_stack.url + urlparse(link).path,
        headers={"Host": host, "Origin": f"http://{host}"},
        data={"token": urlparse(link).fragment},
        timeout=30,
    )
    assert opened.status_code == 303, opened.text
    cookie = opened.headers["set-cookie"].split(";", 1)[0]
    wait_for(lambda: PAGE in _get(fly_stack, host, cookie).text, 30, message="the app")

    steps.sleep(project.pk)
    project.refresh_from_db()
    assert project.status == Status.SLEEPING
    time.sleep(5.5)  # the proxy's cache of the bridge's address expires

    waking = _get(fly_stack, host, cookie)
    assert waking.status_code == 503 and "Waking" in waking.text
    wait_for_status(project, Status.RUNNING, timeout=90)
    wait_for(
        lambda: PAGE in _get(fly_stack, host, cookie).text,
        30,
        message="the preview never turned into the app",
    )
