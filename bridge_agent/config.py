"""The bridge's settings: command-line flags, environment, and where things live in the home."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_ENV = "STARTER_BRIDGE_TOKEN"  # noqa: S105 (a variable name)
PI_BIN_ENV = "STARTER_PI_BIN"
# pi 1.x needs Node >= 22.19 (it crashes at start on 20). The project installs its own
# pinned Node next to pi (npm's node-linux-<arch>, linked as node_modules/.bin/node), and
# the Fly bootstrap one in the Sprite; the bridge runs pi with that Node, never PATH's.
NODE_BIN_ENV = "STARTER_NODE_BIN"
MINIMUM_NODE = (22, 19)
DEFAULT_APP_PORT = 3000
PACKAGE_DIR = Path(__file__).resolve().parent
EXTENSION_PATH = PACKAGE_DIR / "extension" / "starter-extension.ts"
# A user's general agent (STARTER_AGENT_ROLE=general) also gets the tools that reach into
# all of the user's projects through the control plane's API.
ROLE_EXTENSIONS = {"general": PACKAGE_DIR / "extension" / "general-agent.ts"}
ROLE_ENV = "STARTER_AGENT_ROLE"


@dataclass(frozen=True)
class BridgeConfig:
    home: Path
    token: str
    host: str = "127.0.0.1"
    port: int = 8080
    app_port: int = DEFAULT_APP_PORT
    pi_binary: str = "pi"
    # None: pi's own ``#!/usr/bin/env node`` decides (only for a pi installed globally).
    node_binary: str | None = None
    # An idle session's pi process (~106 MiB with pi 1.6, bench/results/pi_versions.md) is
    # stopped after this long and resumed on demand.
    idle_timeout: float = 600.0
    keepalive_interval: float = 15.0
    prewarm: bool = True
    extension_path: Path = EXTENSION_PATH
    # The keeper's pipe for new environments (bridge_agent/environment_handoff.py).
    environment_fd: int | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def extension_paths(self) -> tuple[Path, ...]:
        role_extension = ROLE_EXTENSIONS.get(self.env.get(ROLE_ENV, ""))
        if role_extension is None:
            return (self.extension_path,)
        return (self.extension_path, role_extension)

    @property
    def pi_dir(self) -> Path:
        return self.home / ".pi"

    @property
    def agent_dir(self) -> Path:
        return self.pi_dir / "agent"

    @property
    def session_dir(self) -> Path:
        return self.pi_dir / "sessions"

    @property
    def state_dir(self) -> Path:
        return self.home / ".starter"

    @property
    def event_log_path(self) -> Path:
        return self.state_dir / "events.db"

    @property
    def bridge_state_path(self) -> Path:
        return self.state_dir / "bridge.json"

    @property
    def inspect_db_path(self) -> Path:
        return self.home / "inspect.db"


def find_pi_binary(env: dict[str, str], search_from: list[Path]) -> str:
    """``STARTER_PI_BIN``, else the nearest ``node_modules/.bin/pi`` upward, else ``pi`` on PATH."""
    explicit = env.get(PI_BIN_ENV)
    if explicit:
        return explicit
    for start in search_from:
        for directory in (start, *start.parents):
            candidate = directory / "node_modules" / ".bin" / "pi"
            if candidate.exists():
                return str(candidate)
    return shutil.which("pi", path=env.get("PATH")) or "pi"


def find_node_binary(env: dict[str, str], pi_binary: str) -> str | None:
    """``STARTER_NODE_BIN``, else the ``node`` installed beside pi (``node_modules/.bin``)."""
    explicit = env.get(NODE_BIN_ENV)
    if explicit:
        return explicit
    beside = Path(pi_binary).parent / "node"
    return str(beside) if beside.exists() else None
