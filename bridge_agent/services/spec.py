"""What a service is: the agent's definition, checked, and its JSON form in services.json."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bridge_agent.protocol import (
    MAX_SERVICE_COMMAND_CHARS,
    SERVICE_NAME_PATTERN,
    SERVICE_TYPES,
    ServiceType,
)
from bridge_agent.services.schedule import ScheduleError, parse_schedule

MAX_DESCRIPTION_CHARS = 500
MAX_CWD_CHARS = 1000
LOWEST_PORT = 1024
HIGHEST_PORT = 65535
HTTP_TYPES: tuple[ServiceType, ...] = ("app", "api")
SPEC_FIELDS = frozenset({"name", "command", "cwd", "port", "type", "schedule", "description"})
_NAME = re.compile(SERVICE_NAME_PATTERN)

Desired = Literal["running", "stopped"]


class SpecError(ValueError):
    """A definition the bridge refuses; the message says what to change."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    command: str
    # Relative to the home (``""`` is the home itself); checked again at every start.
    cwd: str
    type: ServiceType
    port: int | None
    schedule: str | None
    description: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceSpec:
        return cls(
            name=str(data["name"]),
            command=str(data["command"]),
            cwd=str(data.get("cwd") or ""),
            type=data["type"],
            port=data.get("port"),
            schedule=data.get("schedule"),
            description=str(data.get("description") or ""),
        )


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SpecError(
            "'name' must be 1 to 40 lower-case letters, digits and dashes, starting with a"
            " letter or digit (for example 'web' or 'nightly-report')."
        )
    return value


def parse_spec(body: dict[str, Any], home: Path, bridge_port: int) -> ServiceSpec:
    """A definition from untrusted JSON; raises ``SpecError`` with a message for people."""
    unknown = set(body) - SPEC_FIELDS
    if unknown:
        raise SpecError(
            f"Unknown field(s) {sorted(unknown)}; use {', '.join(sorted(SPEC_FIELDS))}."
        )
    name = check_name(body.get("name"))
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise SpecError("'command' is required: the shell command that runs the service.")
    if len(command) > MAX_SERVICE_COMMAND_CHARS or "\x00" in command:
        raise SpecError(
            f"'command' has at most {MAX_SERVICE_COMMAND_CHARS} characters (and no NUL); put a"
            " longer one in a script and run that."
        )
    schedule = _optional_text(body, "schedule", 200)
    port = body.get("port")
    given_type = body.get("type")
    if given_type is None:
        given_type = "cron" if schedule else ("app" if port is not None else "worker")
    service_type = next((known for known in SERVICE_TYPES if known == given_type), None)
    if service_type is None:
        raise SpecError(f"'type' must be one of {', '.join(SERVICE_TYPES)}.")
    if service_type == "cron":
        if schedule is None:
            raise SpecError(
                "A cron job needs a 'schedule': 5-field cron ('*/5 * * * *', in UTC) or"
                " 'every N s|m|h' (at least 'every 5s')."
            )
        try:
            parse_schedule(schedule).next_after(datetime.now(UTC))
        except ScheduleError as error:
            raise SpecError(str(error)) from error
    elif schedule is not None:
        raise SpecError("Only a cron job has a 'schedule'; set 'type' to 'cron' or drop it.")
    if port is not None:
        if service_type not in HTTP_TYPES:
            raise SpecError("Only an 'app' or 'api' service has a 'port'.")
        if isinstance(port, bool) or not isinstance(port, int):
            raise SpecError(f"'port' must be an integer from {LOWEST_PORT} to {HIGHEST_PORT}.")
        if not LOWEST_PORT <= port <= HIGHEST_PORT:
            raise SpecError(f"'port' must be an integer from {LOWEST_PORT} to {HIGHEST_PORT}.")
        if port == bridge_port:
            raise SpecError(f"Port {port} is the Starter bridge's own port; pick another one.")
    description = _optional_text(body, "description", MAX_DESCRIPTION_CHARS) or ""
    cwd = _optional_text(body, "cwd", MAX_CWD_CHARS) or ""
    return ServiceSpec(
        name=name,
        command=command,
        cwd=relative_cwd(cwd, home),
        type=service_type,
        port=port,
        schedule=schedule,
        description=description,
    )


def check_stored(spec: ServiceSpec) -> ServiceSpec:
    """A definition read back from the home's services.json (which the agent can edit):
    everything ``parse_spec`` checks but the working directory, which is checked when the
    service starts (a restore may bring it back later)."""
    body: dict[str, Any] = {
        "name": spec.name,
        "command": spec.command,
        "type": spec.type,
        "port": spec.port,
        "schedule": spec.schedule,
        "description": spec.description,
    }
    checked = parse_spec(body, Path("/"), bridge_port=0)
    if Path(spec.cwd).is_absolute() or ".." in Path(spec.cwd).parts:
        raise SpecError("a stored 'cwd' is relative to the home")
    return ServiceSpec(**{**checked.to_json(), "cwd": spec.cwd})


def relative_cwd(cwd: str, home: Path) -> str:
    """``cwd`` as a path relative to the home, after following every symlink; refuses one
    that leads out of the home or is not a directory."""
    resolved = resolve_cwd(cwd, home)
    return "" if resolved == home.resolve() else str(resolved.relative_to(home.resolve()))


def resolve_cwd(cwd: str, home: Path) -> Path:
    """The real directory ``cwd`` (relative to the home, or absolute) names inside the home."""
    if "\x00" in cwd:
        raise SpecError("'cwd' must be a directory inside the project's home.")
    real_home = home.resolve()
    candidate = Path(os.path.realpath(real_home / cwd))  # an absolute cwd replaces the home
    if candidate != real_home and real_home not in candidate.parents:
        raise SpecError(
            f"'cwd' must be a directory inside the project's home ({real_home}); {cwd!r} is not."
        )
    if not candidate.is_dir():
        raise SpecError(f"'cwd' {cwd!r} is not a directory in the project's home; create it first.")
    return candidate


def _optional_text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"'{name}' must be text.")
    value = value.strip()
    if len(value) > limit or "\x00" in value:
        raise SpecError(f"'{name}' has at most {limit} characters.")
    return value or None
