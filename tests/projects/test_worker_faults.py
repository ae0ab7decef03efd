"""Issue 13, fault 5: a Celery worker SIGKILLed mid-provision; the project is running again
within 20 s of the kill, on one Sprite with one bridge.

Real processes on the local backend: a worker that provisions and is killed (it alone
consumes the queue the provision task is sent to, so the test knows whom to kill), a
surviving worker on the run's queue with celery beat, whose watchdog
(``resume-interrupted-work``) resumes the step once the dead worker's lease runs out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from accounts.models import User
from projects import tasks
from projects.lifecycle import steps as lifecycle
from projects.lifecycle.work_lock import is_locked
from projects.models import Project, Status
from projects.sprite.backend import backend_for, sprite_name_for
from sprites.backends import processes, run_sync
from tests.e2e.helpers import wait_for
from tests.support.live_stack import (
    ROOT,
    destroy_local_sprites,
    outermost_bridges,
    stack_environment,
)

pytestmark = pytest.mark.django_db(transaction=True)

RECOVERY_BUDGET = 20.0  # seconds from the kill to `running` (acceptance 2)


@dataclass
class WorkerFleet:
    """Celery workers and beat of this test; each is stopped (and reaped) by ``stop``."""

    data_dir: Path
    environment: dict[str, str]
    run_queue: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def _start(self, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
        self.log(name).parent.mkdir(parents=True, exist_ok=True)
        with open(self.log(name), "ab") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "celery"), "-A", "starter", *arguments],
                cwd=ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def start_worker(
        self, name: str, queue: str, *, with_beat: bool = False
    ) -> subprocess.Popen[bytes]:
        """A worker on ``queue``; ``with_beat`` embeds celery beat (one process fewer to
        start on a loaded machine; the schedule is the product's)."""
        arguments = ["worker", "-Q", queue, "--pool=threads", "--concurrency=2"]
        arguments += ["--without-mingle", "--without-gossip", "--loglevel=INFO"]
        if with_beat:
            arguments += ["--beat", "--schedule", str(self.data_dir / "celerybeat-schedule")]
        return self._start(name, [*arguments, "-n", f"{name}@%h"])

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        wait_for(
            lambda: b" ready." in self.log(name).read_bytes(),
            timeout,
            message=f"worker {name} to be ready ({self.log(name)})",
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def fleet(transactional_db: None, sprite_data_dir: Path, settings: object) -> Iterator[WorkerFleet]:
    settings.DATA_DIR = sprite_data_dir  # type: ignore[attr-defined]
    run_queue = f"{os.environ['CELERY_TASK_DEFAULT_QUEUE']}-worker-faults"
    environment = stack_environment(
        str(settings.DATABASES["default"]["NAME"]),  # type: ignore[attr-defined]
        sprite_data_dir,
        {"CELERY_TASK_DEFAULT_QUEUE": run_queue, "STARTER_WORK_LOCK_SECONDS": "5"},
    )
    workers = WorkerFleet(sprite_data_dir, environment, run_queue)
    try:
        yield workers
    finally:
        workers.stop()
        destroy_local_sprites(sprite_data_dir)


def test_worker_killed_while_starting_the_bridge_is_running_within_20_s(
    fleet: WorkerFleet,
) -> None:
    doomed_queue = f"{fleet.run_queue}-doomed"
    doomed = fleet.start_worker("doomed", doomed_queue)
    fleet.start_worker("survivor", fleet.run_queue, with_beat=True)
    fleet.wait_ready("doomed")
    fleet.wait_ready("survivor")

    # Created once the workers run (the watchdog would resume a project nobody took).
    owner = User.objects.create_user("ida@example.com", "pw-long-enough-1")
    project = Project.objects.create(owner=owner, name="Killed worker")
    name = sprite_name_for(project)
    run_dir = fleet.data_dir / "sprites" / name / "run"
    home = fleet.data_dir / "sprites" / name / "home"
    tasks.provision_project.apply_async((project.pk,), queue=doomed_queue)
    # Mid-provision: the doomed worker has spawned the bridge and waits for its health.
    wait_for(
        lambda: (run_dir / "bridge.pid").exists(),
        timeout=60,
        interval=0.01,
        message="the doomed worker to spawn the bridge",
    )
    doomed.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    doomed.wait(timeout=10)
    first_bridge = int((run_dir / "bridge.pid").read_text())
    project.refresh_from_db()
    assert project.status == Status.BOOTSTRAPPING, "killed too late: provisioning had ended"
    assert is_locked(project.pk)  # the dead worker's lease, until it runs out

    def running() -> bool:
        project.refresh_from_db()
        assert project.status != Status.ERROR, project.status_message
        return project.status == Status.RUNNING

    wait_for(running, timeout=RECOVERY_BUDGET + 20, interval=0.05, message="running again")
    recovery = time.monotonic() - killed
    print(f"killed worker -> running in {recovery:.1f} s")
    assert recovery < RECOVERY_BUDGET, f"running {recovery:.1f} s after the kill"
    assert b"resuming bootstrapping of project" in fleet.log("survivor").read_bytes()

    # The Sprite works: its bridge answers, and a command runs in it.
    backend = backend_for(project)
    endpoint = run_sync(backend.bridge_endpoint(project.sprite_name, project.bridge_token))
    assert httpx.get(endpoint.base_url + "/starter/health", timeout=5).status_code == 200
    result = run_sync(backend.exec(project.sprite_name, "echo still-here", timeout=10))
    assert (result.exit_code, result.stdout.strip()) == (0, b"still-here")

    # Nothing duplicated: one Sprite, one bridge (the resumed step's; the killed worker's
    # bridge was stopped, not left running beside it).
    assert [info.name for info in run_sync(backend.list_sprites())] == [name]
    bridge = int((run_dir / "bridge.pid").read_text())
    assert outermost_bridges(home) == {bridge}
    # (an exited process may linger as a zombie until whoever inherited it reaps it)
    assert first_bridge != bridge and not processes.is_alive(first_bridge)

    # The dead worker's message, delivered again once Redis gives it back, changes nothing.
    lifecycle.provision(project.pk)
    project.refresh_from_db()
    assert project.status == Status.RUNNING
    assert int((run_dir / "bridge.pid").read_text()) == bridge
