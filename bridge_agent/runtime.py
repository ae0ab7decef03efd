"""The bridge's long-lived parts and their order of start and shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bridge_agent.app_target import AppTarget
from bridge_agent.config import BridgeConfig
from bridge_agent.environment import SpriteEnvironment
from bridge_agent.environment_handoff import KeeperHandoff
from bridge_agent.environment_restarts import EnvironmentRestarts
from bridge_agent.event_log import EventLog
from bridge_agent.inspect_db import TABLES, InspectWatcher, ensure_inspect_db, read_inspect_db
from bridge_agent.protocol import EVENT_ENVIRONMENT_CHANGED, EVENT_INSPECT_CHANGED
from bridge_agent.restore_note import announce_restore
from bridge_agent.services.paths import socket_path, with_service_command
from bridge_agent.services.sprite_runner import runner_for
from bridge_agent.services.supervisor import ServiceSupervisor
from bridge_agent.services.unix_socket import ServiceSocket
from bridge_agent.sessions import SessionManager
from bridge_agent.terminals import TerminalManager

logger = logging.getLogger("bridge_agent")


class BridgeRuntime:
    """Owns the event log, the sessions (and so every pi process), the services (and so every
    service process) and the inspect watcher."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.log = EventLog(config.event_log_path)
        # Shared by everything that starts processes (see bridge_agent/environment.py).
        self.environment = SpriteEnvironment(config.env)
        self.app_target = AppTarget(config.bridge_state_path, config.app_port, self.log)
        self.sessions = SessionManager(config, self.log, self.app_target, self.environment)
        self.environment_restarts = EnvironmentRestarts(self.sessions)
        self.keeper_handoff = KeeperHandoff(config.environment_fd)
        self._environment_lock = asyncio.Lock()
        self.inspect_watcher = InspectWatcher(config.inspect_db_path, self._inspect_changed)
        # Set when shutdown begins, before the server waits for open connections: SSE
        # streams end on it so they never hold shutdown up.
        self.shutting_down = asyncio.Event()
        # The agent's services and cron jobs (bridge_agent/services/), and the socket in the
        # home through which the agent and its scripts manage them.
        self.services = ServiceSupervisor(
            config, self.environment, self.log, long_running_runner=runner_for(config.env)
        )
        self.service_socket = ServiceSocket(socket_path(config), self.services, self.shutting_down)
        # The workspace's shells: the environment an exec gets, read when each one starts.
        self.terminals = TerminalManager(
            config.home, lambda: with_service_command(config, self.environment.for_child())
        )

    async def start(self) -> None:
        self.config.home.mkdir(parents=True, exist_ok=True)
        self.log.open()
        ensure_inspect_db(self.config.inspect_db_path)
        self.inspect_watcher.start()
        await self.services.start()
        await self.service_socket.start()
        await self.sessions.start()
        announce_restore(self.config.home, self.log)
        self.environment_restarts.start()

    def begin_shutdown(self) -> None:
        self.shutting_down.set()

    async def close(self) -> None:
        self.shutting_down.set()
        await self.terminals.close()
        await self.environment_restarts.close()
        await self.service_socket.close()
        await self.services.close()
        await self.sessions.close()
        self.keeper_handoff.close()
        await self.inspect_watcher.stop()
        self.log.close()

    async def update_environment(
        self, variables: Mapping[str, str], listed: Sequence[str] | None
    ) -> dict[str, Any]:
        """Make ``variables`` (checked: ``environment.variables_problem``) the project's
        whole set of secrets and keys; answers as ``protocol.ENVIRONMENT_PATH`` says.

        The keeper gets the set before anything else happens, so a bridge that dies from
        here on comes back with it. Values are never logged; events name variables only."""
        async with self._environment_lock:
            changed = self.environment.replace_secrets(variables, listed)
            if not changed:
                return {"applied": "now", "pending_sessions": [], "names": []}
            await self.keeper_handoff.send(variables, listed)
            pending = await self.environment_restarts.apply(changed)
            applied = "after_run" if pending else "now"
            self.log.append(
                EVENT_ENVIRONMENT_CHANGED,
                {"names": changed, "applied": applied, "pending_sessions": pending},
            )
            logger.info("new values of %s; busy sessions: %s", ", ".join(changed), pending)
            await self.environment.notify()
            return {"applied": applied, "pending_sessions": pending, "names": changed}

    def _inspect_changed(self) -> None:
        try:
            tables = read_inspect_db(self.config.inspect_db_path)
            counts = {table: len(tables[table]) for table in TABLES}
        except Exception:
            logger.exception("reading inspect.db failed")
            counts = {}
        self.log.append(EVENT_INSPECT_CHANGED, {"counts": counts})
