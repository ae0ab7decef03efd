"""Issue 4 acceptance 2-4: secrets reach the agent's commands only as environment;
checkpoints bring files back; a worker killed mid-bootstrap does not leave a project stuck."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User
from projects.actions import create_project, destroy_project
from projects.bridge.client import call_bridge
from projects.lifecycle import steps as lifecycle
from projects.models import Project, Status
from projects.sprite.backend import backend_for
from projects.tasks import resume_interrupted_work
from sprites.backends import run_sync
from tests.e2e.helpers import use_scripted_model, wait_for, wait_for_status
from tests.support.live_stack import ROOT, LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_VALUE = "sk_live_value_that_must_never_touch_disk_81723"


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


def _tool_outputs(project: Project) -> str:
    messages = call_bridge(project, "GET", "/starter/messages").body["messages"]
    texts = []
    for message in messages:
        if message.get("role") == "toolResult":
            texts.extend(part.get("text", "") for part in message.get("content", []))
    return "\n".join(texts)


def _grep(root: Path, needle: str) -> list[str]:
    found = subprocess.run(
        ["grep", "-rl", "--binary-files=text", needle, str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.split()


def test_secret_reaches_commands_as_environment_and_never_a_file(
    live_stack: LiveStack, settings: object, model_server: ScriptedModelServer
) -> None:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    owner = User.objects.create_user("fay@example.com", "pw-long-enough-1")
    use_scripted_model(owner, model_server.base_url)
    project = create_project(owner, "Secrets")
    wait_for_status(project, Status.RUNNING)

    browser = Client()
    browser.force_login(owner)
    response = browser.post(
        f"/p/{project.public_id}/secrets/", {"name": "PAYMENT_KEY", "value": SECRET_VALUE}
    )
    assert response.status_code == 302
    time.sleep(1.5)  # the sync task hands the running bridge the new environment
    wait_for(lambda: call_bridge(project, "GET", "/starter/health").status == 200, timeout=30)

    # The command prints a digest of the variable, so the value itself never enters the
    # transcript and any copy of it on disk is a leak.
    expected = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
    call_bridge(
        project,
        "POST",
        "/starter/prompt",
        json_body={"message": "[[bash: printenv PAYMENT_KEY | tr -d '\\n' | sha256sum]]"},
    )
    wait_for(
        lambda: expected in _tool_outputs(project),
        timeout=60,
        message="the digest of the secret in the command output",
    )

    home = live_stack.data_dir / "sprites" / project.sprite_name / "home"
    assert _grep(live_stack.data_dir, SECRET_VALUE) == []  # homes, run dirs and logs
    assert home.exists()
    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)


def test_checkpoint_delete_restore_brings_the_file_back(
    live_stack: LiveStack, settings: object
) -> None:
    from projects.sprite.checkpoints import create_checkpoint, list_checkpoints, restore_checkpoint

    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    owner = User.objects.create_user("gus@example.com", "pw-long-enough-1")
    project = create_project(owner, "Checkpoints")
    wait_for_status(project, Status.RUNNING)
    backend = backend_for(project)
    run_sync(backend.write_file(project.sprite_name, "report.md", b"# Q4 numbers\n"))
    checkpoint = create_checkpoint(project, "before cleanup")
    assert checkpoint.id in {c.id for c in list_checkpoints(project)}
    result = run_sync(backend.exec(project.sprite_name, "rm report.md && ls", timeout=10))
    assert result.exit_code == 0 and b"report.md" not in result.stdout
    restore_checkpoint(project, checkpoint.id)
    assert run_sync(backend.read_file(project.sprite_name, "report.md")) == b"# Q4 numbers\n"
    assert call_bridge(project, "GET", "/starter/health").status == 200
    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)


def _start_worker(stack: LiveStack, queue: str, name: str) -> subprocess.Popen[bytes]:
    environment = dict(stack.environment, STARTER_WORK_LOCK_SECONDS="3")
    log = open(stack.data_dir / "logs" / f"{name}.log", "ab")
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "starter",
            "worker",
            "-Q",
            queue,
            "--pool=threads",
            "--concurrency=2",
            "-n",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_worker_killed_mid_bootstrap_ends_running_not_stuck(
    live_stack: LiveStack, settings: object
) -> None:
    from projects import tasks
    from projects.lifecycle.work_lock import is_locked

    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    settings.STARTER_WORK_LOCK_SECONDS = 3  # type: ignore[attr-defined]
    owner = User.objects.create_user("hal@example.com", "pw-long-enough-1")
    project = Project.objects.create(owner=owner, name="Killed")
    doomed = _start_worker(live_stack, "kill-test", "doomed")
    try:
        tasks.provision_project.apply_async((project.pk,), queue="kill-test")
        wait_for(
            lambda: is_locked(project.pk),
            timeout=30,
            interval=0.01,
            message="the worker to claim the project",
        )
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    project.refresh_from_db()
    assert project.status in {Status.CREATING, Status.BOOTSTRAPPING, Status.RUNNING}

    # A new worker starts; beat's watchdog (run here by hand every second) resumes the work
    # once the dead worker's claim has expired.
    again = _start_worker(live_stack, os.environ["CELERY_TASK_DEFAULT_QUEUE"], "again")
    try:

        def recovered() -> bool:
            resume_interrupted_work()
            project.refresh_from_db()
            return project.status in {Status.RUNNING, Status.ERROR}

        wait_for(recovered, timeout=60, interval=1.0, message="running or error after the kill")
    finally:
        again.terminate()
        again.wait(timeout=15)
    assert project.status == Status.RUNNING, project.status_message
    lifecycle.provision(project.pk)  # and a duplicate delivery afterwards changes nothing
    project.refresh_from_db()
    assert project.status == Status.RUNNING
    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)
