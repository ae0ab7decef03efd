"""New secrets reach the services: the supervisor in this process, with real children.

(The bridge's ``POST /starter/environment`` comes with the environment work; it calls the
same ``SpriteEnvironment.replace_secrets`` and ``notify`` that this test calls.)
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
from bridge_agent.services.supervisor import ServiceSupervisor
from tests.bridge_agent.service_helpers import pid_alive


async def eventually(check: object, timeout: float = 15.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the condition never held")
        await asyncio.sleep(0.05)


@pytest.fixture
async def supervised(
    tmp_path: Path,
) -> AsyncIterator[tuple[ServiceSupervisor, SpriteEnvironment, Path]]:
    home = tmp_path / "home"
    home.mkdir()
    config = BridgeConfig(
        home=home,
        token="t",
        port=65000,
        env={"PATH": "/usr/bin:/bin", "STARTER_SECRET_NAMES": "API_KEY", "API_KEY": "old-value"},
    )
    ensure_inspect_db(config.inspect_db_path)
    log = EventLog(config.event_log_path)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    log.open()
    environment = SpriteEnvironment(config.env)
    supervisor = ServiceSupervisor(config, environment, log)
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
