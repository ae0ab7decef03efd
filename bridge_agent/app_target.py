"""The app port the reverse proxy forwards to, remembered in the home across restarts.

``AppTarget.set`` is the one writer of ``app_port`` events, so every change (seen by the
extension in a dev server's output, or asked for on ``POST /starter/config``) is recorded in
one payload shape: ``{"port", "previous", "source", "detail"}`` (see ``protocol``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from bridge_agent.event_log import EventLog
from bridge_agent.protocol import EVENT_APP_PORT

logger = logging.getLogger("bridge_agent.app_target")

AppPortSource = Literal["extension", "config"]


def valid_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


class AppTarget:
    def __init__(self, state_path: Path, default_port: int, log: EventLog) -> None:
        self.state_path = state_path
        self.port = default_port
        self.log = log
        try:
            saved = json.loads(state_path.read_text()).get("app_port")
        except (OSError, ValueError, AttributeError):
            saved = None
        if valid_port(saved):
            self.port = int(saved)

    def set(
        self,
        port: int,
        source: AppPortSource,
        detail: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> bool:
        """Point the proxy at ``port`` and record an ``app_port`` event; True when it changed.

        An invalid port or the current one changes nothing and records nothing.
        """
        if not valid_port(port) or port == self.port:
            return False
        previous, self.port = self.port, port
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.state_path.with_suffix(".tmp")
            temporary.write_text(json.dumps({"app_port": port}))
            temporary.replace(self.state_path)
        except OSError:
            logger.exception("could not remember the app port")
        self.log.append(
            EVENT_APP_PORT,
            {"port": port, "previous": previous, "source": source, "detail": detail or {}},
            session_id,
        )
        return True
