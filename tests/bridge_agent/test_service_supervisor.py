"""The supervisor in this process, with real children: new secrets reach the services,
backoff starts over after a healthy run, and the runner seam takes long-running services
while cron runs stay local.

(The bridge's ``POST /starter/environment`` comes with the environment work; it calls the
same ``SpriteEnvironment.replace_secrets`` and ``notify`` that the first test calls.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge_agent.config import BridgeConfig
from bridge_agent.environment import SpriteEnvironment
from bridge_agent.event_log import EventLog
from bridge_agent.inspect_db import ensure_inspect_db
from bridge_agent.services import supervisor as supervisor_module
from bridge_agent.services.runner import (
    GroupRecord,
    LocalRunner,
    OutputCallback,
    ServiceProcess,
    ServiceRunner,
)
from bridge_agent.services.supervisor import ServiceSupervisor
from tests.bridge_agent.service_helpers import pid_alive


async def eventually(check: object, timeout: float = 15.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the condition never held")
        await asyncio.sleep(0.05)


class RecordingRunner:
    """Another place for long-running services, as a backend's runner would be: here it
    only records what it was given and runs it locally."""

    def __init__(self, local: ServiceRunner) -> None:
        self.local = local
        self.started: list[str] = []

    async def start(
        self,
        name: str,
        command: str,
        cwd: Path,
        environment: dict[str, str],
        on_output: OutputCallback,
    ) -> ServiceProcess:
        self.started.append(name)
        return await self.local.start(name, command, cwd, environment, on_output)


def make_supervisor(
    home: Path, runner: ServiceRunner | None = None
) -> tuple[ServiceSupervisor, SpriteEnvironment, EventLog]:
    config = BridgeConfig(
        home=home,
        token="t",
        port=65000,
        env={"PATH": "/usr/bin:/bin", "STARTER_SECRET_NAMES": "API_KEY", "API_KEY": "old-value"},
    )
    ensure_inspect_db(config.inspect_db_path)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog(config.event_log_path)
    log.open()
    environment = SpriteEnvironment(config.env)
    return ServiceSupervisor(config, environment, log, runner), environment, log


@pytest.fixture
async def supervised(
    tmp_path: Path,
) -> AsyncIterator[tuple[ServiceSupervisor, SpriteEnvironment, Path]]:
    home = tmp_path / "home"
    home.mkdir()
    supervisor, environment, log = make_supervisor(home)
    await supervisor.start()
    try:
        yield supervisor, environment, home
    finally:
        await supervisor.close()
        log.close()


async def test_new_secrets_restart_running_services_with_the_new_values(
    supervised: tuple[ServiceSupervisor, SpriteEnvironment, Path],
) -> None:
    supervisor, environment, home = supervised
    seen = home / "seen.txt"
    await supervisor.define(
        {"name": "uses-key", "command": 'echo "$API_KEY" >> seen.txt; exec sleep 1000'}
    )
    await supervisor.define({"name": "stopped-one", "command": "exec sleep 1000"})
    await supervisor.act("stopped-one", "stop")
    await eventually(lambda: seen.exists() and seen.read_text() == "old-value\n")
    first_pid = supervisor.get("uses-key")["pid"]

    assert environment.replace_secrets({"API_KEY": "new-value"}) == ["API_KEY"]
    await environment.notify()

    await eventually(lambda: seen.read_text().splitlines() == ["old-value", "new-value"])
    assert not pid_alive(first_pid)
    await eventually(lambda: supervisor.get("uses-key")["status"] == "running")
    assert supervisor.get("uses-key")["pid"] != first_pid
    assert supervisor.get("stopped-one")["status"] == "stopped"  # stays stopped
    log = (home / ".starter" / "services" / "uses-key.log").read_text()
    assert "restarting: the project's secrets changed" in log


async def test_backoff_starts_over_after_a_healthy_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "HEALTHY_AFTER", 0.3)
    home = tmp_path / "home"
    home.mkdir()
    supervisor, _, log = make_supervisor(home)
    await supervisor.start()
    try:
        await supervisor.define({"name": "steady", "command": "sleep 0.5; exit 1"})
        await eventually(lambda: supervisor.get("steady")["restart_count"] >= 3, timeout=20)
    finally:
        await supervisor.close()
        log.close()
    notes = (home / ".starter" / "services" / "steady.log").read_text()
    delays = [
        line.rsplit("restarting in ", 1)[1]
        for line in notes.splitlines()
        if "restarting in" in line
    ]
    assert delays[:3] == ["1 s", "1 s", "1 s"]  # up longer than HEALTHY_AFTER each time


async def test_long_running_services_go_to_the_runner_and_cron_runs_stay_local(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    local = LocalRunner(GroupRecord(home / "groups.json"))
    runner = RecordingRunner(local)
    supervisor, _, log = make_supervisor(home, runner)
    await supervisor.start()
    try:
        await supervisor.define({"name": "web", "command": "exec sleep 1000", "port": 4321})
        await supervisor.define({"name": "job", "command": "echo ran", "schedule": "every 1h"})
        await supervisor.act("job", "run")
        await eventually(lambda: supervisor.get("job")["last_run"] is not None)
        await eventually(lambda: supervisor.get("web")["status"] == "running")
    finally:
        await supervisor.close()
        log.close()
    assert runner.started == ["web"]
