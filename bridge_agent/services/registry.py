"""``~/.starter/services.json``: the services the agent defined, and what should be running.

Kept in the home, so whatever brings the home back (a wake, a bridge restart, a checkpoint
restore) brings the services back with it. Written atomically (a temporary file renamed
over the old one); a file that is missing, unreadable or partly bad loses only the entries
that do not parse.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge_agent.protocol import MAX_SERVICES
from bridge_agent.services.spec import Desired, ServiceSpec, SpecError, check_stored

logger = logging.getLogger("bridge_agent.services")

FORMAT_VERSION = 1


@dataclass
class Registered:
    spec: ServiceSpec
    desired: Desired
    # Cron: when the job is next due; a time in the past at start means it was missed.
    next_run_at: datetime | None = None


def load_registry(path: Path) -> dict[str, Registered]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        logger.exception("%s cannot be read; starting with no services", path)
        return {}
    entries = raw.get("services") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        return {}
    services: dict[str, Registered] = {}
    for entry in entries[:MAX_SERVICES]:
        try:
            spec = check_stored(ServiceSpec.from_json(entry["spec"]))
            desired = entry.get("desired")
            next_run = entry.get("next_run_at")
            services[spec.name] = Registered(
                spec=spec,
                desired="stopped" if desired == "stopped" else "running",
                next_run_at=datetime.fromisoformat(next_run) if next_run else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError, SpecError):
            logger.warning("skipping a bad entry of %s", path)
    return services


def save_registry(path: Path, services: dict[str, Registered]) -> None:
    entries: list[dict[str, Any]] = [
        {
            "spec": item.spec.to_json(),
            "desired": item.desired,
            "next_run_at": item.next_run_at.isoformat() if item.next_run_at else None,
        }
        for item in services.values()
    ]
    data = json.dumps({"version": FORMAT_VERSION, "services": entries}, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".services-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # rename replaces a symlink planted at ``path`` itself, never the file it points to.
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
