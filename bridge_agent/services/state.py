"""What the supervisor knows of each service while the bridge runs, and its JSON form."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge_agent import protocol
from bridge_agent.errors import ApiError
from bridge_agent.services.logfile import ServiceLog
from bridge_agent.services.registry import Registered
from bridge_agent.services.spec import ServiceSpec

# The seed's ``services.status`` words (inspect_db.SCHEMA_NOTES): a cron job between runs is
# as "running" as a server; one waiting to be restarted after a crash is in "error".
INSPECT_STATUSES: dict[protocol.ServiceStatus, str] = {
    "starting": "running",
    "running": "running",
    "scheduled": "running",
    "backoff": "error",
    "error": "error",
    "stopped": "stopped",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def not_found(name: str) -> ApiError:
    return ApiError(404, "service_not_found", f"No service named {name!r}; list them first.")


@dataclass(eq=False)
class ServiceState:
    registered: Registered
    log: ServiceLog
    status: protocol.ServiceStatus = "stopped"
    pid: int | None = None
    restart_count: int = 0
    next_restart_at: datetime | None = None
    last_exit_code: int | None = None
    started_at: datetime | None = None
    last_run: dict[str, Any] | None = None
    loop: asyncio.Task[None] | None = None
    manual_run: asyncio.Task[None] | None = None
    job_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_described: dict[str, Any] | None = None
    last_row: dict[str, Any] | None = None

    @property
    def spec(self) -> ServiceSpec:
        return self.registered.spec


def describe(state: ServiceState, home: Path) -> dict[str, Any]:
    """The service as ``protocol.py`` shapes it (the list, one, a ``service_changed``)."""
    spec = state.spec
    return {
        "name": spec.name,
        "type": spec.type,
        "command": spec.command,
        "cwd": str(home / spec.cwd) if spec.cwd else str(home),
        "port": spec.port,
        "schedule": spec.schedule,
        "description": spec.description,
        "desired": state.registered.desired,
        "status": state.status,
        "pid": state.pid,
        "restart_count": state.restart_count,
        "next_restart_at": iso(state.next_restart_at),
        "last_exit_code": state.last_exit_code,
        "started_at": iso(state.started_at),
        "next_run_at": iso(state.registered.next_run_at) if spec.type == "cron" else None,
        "last_run": state.last_run,
    }
