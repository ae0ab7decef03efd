"""Where the services live in the home, and what the agent's processes need to reach them."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from bridge_agent.config import PACKAGE_DIR, BridgeConfig

# ``starter-service`` lives here (read-only in a Sprite: the agent cannot change it).
BIN_DIR = PACKAGE_DIR / "bin"
SERVICE_COMMAND = BIN_DIR / "starter-service"
SOCKET_ENV = "STARTER_SERVICES_SOCKET"
PYTHON_ENV = "STARTER_PYTHON"


def registry_path(config: BridgeConfig) -> Path:
    return config.state_dir / "services.json"


def logs_dir(config: BridgeConfig) -> Path:
    return config.state_dir / "services"


def run_dir(config: BridgeConfig) -> Path:
    return config.state_dir / "run"


def socket_path(config: BridgeConfig) -> Path:
    return run_dir(config) / "services.sock"


def groups_path(config: BridgeConfig) -> Path:
    return run_dir(config) / "service-groups.json"


def with_service_command(config: BridgeConfig, environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` plus what ``starter-service`` needs: itself on PATH, the socket, and
    the bridge's own Python (whatever ``python3`` on PATH is, it may lack nothing we need,
    but it may also be another version or missing)."""
    updated = dict(environment)
    path = updated.get("PATH") or os.defpath
    if str(BIN_DIR) not in path.split(os.pathsep):
        updated["PATH"] = os.pathsep.join([str(BIN_DIR), path])
    updated[SOCKET_ENV] = str(socket_path(config))
    updated[PYTHON_ENV] = sys.executable
    return updated


def make_command_executable() -> None:
    """An upload that dropped the file's mode (the ``fly`` bootstrap writes plain files)
    leaves ``starter-service`` unexecutable; where the bridge's files are writable, fix it."""
    with contextlib.suppress(OSError):
        mode = SERVICE_COMMAND.stat().st_mode
        wanted = mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
        if mode != wanted:
            SERVICE_COMMAND.chmod(wanted)
