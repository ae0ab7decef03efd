"""The app port the reverse proxy forwards to, remembered in the home across restarts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger("bridge_agent.app_target")


def valid_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


class AppTarget:
    def __init__(self, state_path: Path, default_port: int) -> None:
        self.state_path = state_path
        self.port = default_port
        try:
            saved = json.loads(state_path.read_text()).get("app_port")
        except (OSError, ValueError, AttributeError):
            saved = None
        if valid_port(saved):
            self.port = int(saved)

    def set(self, port: int) -> bool:
        """Point the proxy at ``port``; True when that changed anything."""
        if not valid_port(port) or port == self.port:
            return False
        self.port = port
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.state_path.with_suffix(".tmp")
            temporary.write_text(json.dumps({"app_port": port}))
            temporary.replace(self.state_path)
        except OSError:
            logger.exception("could not remember the app port")
        return True
