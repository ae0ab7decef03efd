"""Helpers for the service tests: define services, wait for their state, run the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bridge_agent.services.paths import BIN_DIR
from tests.support.bridge_process import BridgeProcess

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 20.0, what: str = "the condition") -> T:
    """``check()``'s first truthy value, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what} (last: {value!r})")
        time.sleep(0.1)


def define(bridge: BridgeProcess, **body: Any) -> dict[str, Any]:
    with bridge.client() as client:
        response = client.post("/starter/services", json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def service(bridge: BridgeProcess, name: str) -> dict[str, Any]:
    with bridge.client() as client:
        response = client.get(f"/starter/services/{name}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for_status(
    bridge: BridgeProcess, name: str, status: str, timeout: float = 20.0
) -> dict[str, Any]:
    return wait_until(
        lambda: (found := service(bridge, name))["status"] == status and found,
        timeout,
        f"{name} to be {status}",
    )


def log_lines(bridge: BridgeProcess, name: str, lines: int = 200) -> list[str]:
    with bridge.client() as client:
        response = client.get(f"/starter/services/{name}/logs", params={"lines": lines})
    assert response.status_code == 200, response.text
    return list(response.json()["lines"])


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def socket_path(home: Path) -> Path:
    return home / ".starter" / "run" / "services.sock"


def starter_service(
    home: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``starter-service`` command as the agent's shell would."""
    environment = {
        **os.environ,
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "STARTER_SERVICES_SOCKET": str(socket_path(home)),
        "STARTER_PYTHON": os.environ.get("STARTER_PYTHON", "") or _python(),
    }
    return subprocess.run(
        ["starter-service", *args],
        cwd=cwd or home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _python() -> str:
    import sys

    return sys.executable
