"""The one set of service commands (issue 15): list a project's supervised services and cron
jobs, start/stop/restart/run one, read the end of its log, follow its log live, list its runs.

The dashboard (sidebar, logs panel) and the REST API both call these. Everything the bridge
answers comes from the Sprite and is untrusted: each service and run is rebuilt field by
field from the shapes of ``bridge_agent.protocol`` (a value of the wrong type is dropped,
texts are cut, lists are capped), and nothing is ever meant to be rendered as markup.

Failures are ``ProjectError`` (bad input, 400/404) or ``BridgeError`` (from the bridge or the
way to it), mapped to statuses in ``projects.errors``.

On ``fly`` a long-running service is a Sprite service (projects/sprite/services.py says why):
the bridge still keeps the registry and takes every request first (so it records what the
person wants), and then the Sprite's side applies it; status, pid, restarts and the log of
such a service come from the Sprites API (``sprite_state``), cron jobs stay the bridge's.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TypedDict, cast

import httpx
from channels.db import database_sync_to_async

from bridge_agent.protocol import (
    MAX_RUN_OUTPUT_CHARS,
    MAX_SERVICE_COMMAND_CHARS,
    MAX_SERVICES,
    SERVICE_ACTION_PATH,
    SERVICE_ACTIONS,
    SERVICE_LOGS_PATH,
    SERVICE_NAME_PATTERN,
    SERVICE_RUNS_PATH,
    SERVICE_STATUSES,
    SERVICE_TYPES,
    SERVICES_PATH,
    ServiceAction,
    ServiceStatus,
    ServiceType,
)
from projects.bridge.client import BridgeResponse, call_bridge
from projects.bridge.events import bridge_target
from projects.errors import BridgeError, ProjectError, from_sprite_error
from projects.models import Project, Status
from projects.sprite import services as sprite_services
from sprites.backends import SpriteError
from sprites.backends.base import SpriteService, SpriteServiceAction

# fullmatch, never match: the pattern ends in `$`, which also matches before a final newline.
SERVICE_NAME = re.compile(SERVICE_NAME_PATTERN)
# How much of a log the control plane asks for and passes on.
DEFAULT_LOG_LINES = 200
MAX_LOG_LINES = 1000
MAX_LOG_LINE_CHARS = 4000
MAX_RUNS = 50
MAX_TEXT_CHARS = 1000
MAX_TIMESTAMP_CHARS = 40
# A followed log is a live view for a person, not an archive: it ends after this long (the
# panel reconnects) or after this many lines, so no stream is held open forever.
FOLLOW_MAX_SECONDS = 15 * 60
FOLLOW_MAX_LINES = 50_000
FOLLOW_MAX_PENDING_CHARS = 64_000
FOLLOW_TIMEOUT = httpx.Timeout(10.0, connect=5.0, read=60.0)
# Fly: a Sprite service's log is read again this often, its last this-many lines each time.
FOLLOW_POLL_SECONDS = 1.0
FOLLOW_WINDOW_LINES = 500
RUN_TRIGGERS = ("schedule", "manual", "missed")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class ServiceRun(TypedDict):
    id: int
    service: str
    started_at: str | None
    ended_at: str | None
    exit_code: int | None
    output: str
    trigger: str


class Service(TypedDict):
    name: str
    type: ServiceType
    command: str
    cwd: str
    port: int | None
    schedule: str | None
    description: str
    desired: str
    status: ServiceStatus
    pid: int | None
    restart_count: int
    next_restart_at: str | None
    last_exit_code: int | None
    started_at: str | None
    next_run_at: str | None
    last_run: ServiceRun | None


# -- input from people ----------------------------------------------------------------------


def clean_service_name(name: object) -> str:
    """A service name from a URL or a form; it ends up in a bridge path."""
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        raise ProjectError(
            "That is not a service name (lowercase letters, digits and '-', up to 40).",
            "not_found",
        )
    return name


def clean_action(action: object) -> ServiceAction:
    if action not in SERVICE_ACTIONS:
        raise ProjectError(
            f"A service's action is one of {', '.join(SERVICE_ACTIONS)}.", "not_found"
        )
    return cast(ServiceAction, action)


def clean_line_count(lines: object) -> int:
    if lines is None or lines == "":
        return DEFAULT_LOG_LINES
    try:
        count = int(str(lines))
    except ValueError:
        raise ProjectError("lines is a whole number.") from None
    if not 1 <= count <= MAX_LOG_LINES:
        raise ProjectError(f"lines is between 1 and {MAX_LOG_LINES}.")
    return count


# -- output of the Sprite -------------------------------------------------------------------


def _text(value: object, limit: int = MAX_TEXT_CHARS) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _optional_text(value: object, limit: int = MAX_TEXT_CHARS) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _int(value: object, low: int = 0, high: int = 2**31) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def _exit_code(value: object) -> int | None:
    return _int(value, -255, 255)


def _timestamp(value: object) -> str | None:
    """An ISO-8601 time, as written; anything that does not parse as one is dropped."""
    if not isinstance(value, str) or len(value) > MAX_TIMESTAMP_CHARS:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def clean_log_line(value: object) -> str | None:
    """One log line as text: cut, without control characters (tabs kept); None if no text."""
    if not isinstance(value, str):
        return None
    return _CONTROL.sub("", value[:MAX_LOG_LINE_CHARS].expandtabs(4))


def clean_run(value: object) -> ServiceRun | None:
    if not isinstance(value, dict):
        return None
    run_id = _int(value.get("id"))
    service = value.get("service")
    if run_id is None or not isinstance(service, str) or not SERVICE_NAME.fullmatch(service):
        return None
    trigger = value.get("trigger")
    return {
        "id": run_id,
        "service": service,
        "started_at": _timestamp(value.get("started_at")),
        "ended_at": _timestamp(value.get("ended_at")),
        "exit_code": _exit_code(value.get("exit_code")),
        "output": _text(value.get("output"), MAX_RUN_OUTPUT_CHARS),
        "trigger": trigger if isinstance(trigger, str) and trigger in RUN_TRIGGERS else "manual",
    }


def clean_service(value: object) -> Service | None:
    """A service as the bridge described it, rebuilt from known fields; None when it has no
    valid name (it could not be addressed anyway)."""
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        return None
    kind = value.get("type")
    status = value.get("status")
    desired = value.get("desired")
    return {
        "name": name,
        "type": kind if kind in SERVICE_TYPES else "worker",
        "command": _text(value.get("command"), MAX_SERVICE_COMMAND_CHARS),
        "cwd": _text(value.get("cwd")),
        "port": _int(value.get("port"), 1, 65535),
        "schedule": _optional_text(value.get("schedule"), 200),
        "description": _text(value.get("description")),
        "desired": desired if desired in ("running", "stopped") else "stopped",
        "status": status if status in SERVICE_STATUSES else "error",
        "pid": _int(value.get("pid"), 1),
        "restart_count": _int(value.get("restart_count")) or 0,
        "next_restart_at": _timestamp(value.get("next_restart_at")),
        "last_exit_code": _exit_code(value.get("last_exit_code")),
        "started_at": _timestamp(value.get("started_at")),
        "next_run_at": _timestamp(value.get("next_run_at")),
        "last_run": clean_run(value.get("last_run")),
    }


def _field(body: object, name: str) -> object:
    return body.get(name) if isinstance(body, dict) else None


# -- the commands ---------------------------------------------------------------------------


def _bridge_call(
    project: Project, method: str, path: str, params: dict[str, str] | None = None
) -> BridgeResponse:
    return call_bridge(project, method, path, params=params)


def list_services(project: Project) -> list[Service]:
    """The project's services, sorted by name (at most ``MAX_SERVICES``)."""
    items = _field(_bridge_call(project, "GET", SERVICES_PATH).body, "services")
    services = [s for s in map(clean_service, items if isinstance(items, list) else []) if s]
    unique = {service["name"]: service for service in services[: MAX_SERVICES * 2]}
    listed = sorted(unique.values(), key=lambda service: service["name"])[:MAX_SERVICES]
    if sprite_services.host_for(project) is None:
        return listed
    states = sprite_state(project)
    return [_with_sprite_state(service, states, on_fly=True) for service in listed]


def service_action(project: Project, name: str, action: str) -> Service | None:
    """Start, stop, restart or run (a cron job, now) one service; its state afterwards when
    the bridge says it (the ``service_changed`` event follows anyway)."""
    path = SERVICE_ACTION_PATH.format(name=clean_service_name(name), action=clean_action(action))
    body = _bridge_call(project, "POST", path).body
    service = clean_service(_field(body, "service")) or clean_service(body)
    if action == "run" or (service is not None and service["type"] == "cron"):
        return service
    if sprite_services.host_for(project) is None:
        return service
    try:
        state = sprite_services.apply_action(project, name, cast(SpriteServiceAction, action))
    except SpriteError as error:
        raise BridgeError.wrapping(from_sprite_error(error)) from error
    return _with_sprite_state(service, {name: state}) if service is not None else None


def sprite_state(project: Project) -> dict[str, SpriteService]:
    """Each long-running service's state as its Sprite reports it (fly), else nothing."""
    try:
        return sprite_services.sprite_services(project) or {}
    except SpriteError as error:
        raise BridgeError.wrapping(from_sprite_error(error)) from error


def _with_sprite_state(
    service: Service, states: dict[str, SpriteService], *, on_fly: bool = False
) -> Service:
    state = states.get(service["name"])
    if service["type"] == "cron":
        return service
    if state is None:
        if not on_fly:
            return service
        # Recorded by the bridge, not yet a Sprite service (the reconcile is on its way).
        pending: ServiceStatus = "starting" if service["desired"] == "running" else "stopped"
        return {**service, "status": pending, "pid": None}
    merged = sprite_services.with_sprite_state([dict(service)], {service["name"]: state})[0]
    return cast(Service, merged)


def log_tail(project: Project, name: str, lines: object = None) -> list[str]:
    """The last ``lines`` lines of a service's log, as text."""
    count = clean_line_count(lines)
    name = clean_service_name(name)
    if name in sprite_state(project):
        try:
            sprite_lines = sprite_services.service_log(project, name, count)
        except SpriteError as error:
            raise BridgeError.wrapping(from_sprite_error(error)) from error
        cleaned_lines = (clean_log_line(line) for line in sprite_lines)
        return [line for line in cleaned_lines if line is not None][-count:]
    path = SERVICE_LOGS_PATH.format(name=name)
    items = _field(_bridge_call(project, "GET", path, {"lines": str(count)}).body, "lines")
    cleaned = (clean_log_line(line) for line in (items if isinstance(items, list) else []))
    return [line for line in cleaned if line is not None][-count:]


def runs(project: Project, name: str) -> list[ServiceRun]:
    """A cron job's last runs, newest first."""
    path = SERVICE_RUNS_PATH.format(name=clean_service_name(name))
    items = _field(_bridge_call(project, "GET", path).body, "runs")
    found = [run for run in map(clean_run, items if isinstance(items, list) else []) if run]
    return found[:MAX_RUNS]


async def follow_log(project: Project, name: str, lines: object = None) -> AsyncIterator[str]:
    """A service's log, live: its last ``lines`` lines, then each new one, as text.

    Never wakes the project (a sleeping one is a 409 ``not_running``, raised before the first
    line). Ends when the bridge ends the stream, after ``FOLLOW_MAX_SECONDS`` or after
    ``FOLLOW_MAX_LINES``; a bridge that sends an event larger than
    ``FOLLOW_MAX_PENDING_CHARS`` without ending it is cut off. The caller closes the iterator
    (``aclose``) when its reader goes away, which closes the bridge request.
    """
    count = clean_line_count(lines)
    name = clean_service_name(name)
    if await database_sync_to_async(_is_sprite_service, thread_sensitive=False)(project, name):
        async for line in _follow_sprite_log(project, name, count):
            yield line
        return
    path = SERVICE_LOGS_PATH.format(name=name)
    endpoint = await bridge_target(project.public_id)
    deadline = time.monotonic() + FOLLOW_MAX_SECONDS
    sent = 0
    async with httpx.AsyncClient(timeout=FOLLOW_TIMEOUT) as http:
        try:
            async with http.stream(
                "GET",
                endpoint.base_url + path,
                params={"lines": str(count), "follow": "1"},
                headers=dict(endpoint.headers),
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _refusal(response)
                parser = LogEventParser()
                async for text in response.aiter_text():
                    for line in parser.feed(text):
                        yield line
                        sent += 1
                        if sent >= FOLLOW_MAX_LINES:
                            return
                    if time.monotonic() > deadline:
                        return
        except httpx.HTTPError as error:
            if sent:
                return  # the bridge went away mid-stream (sleep, restart): the stream ends
            raise BridgeError(
                502, "bridge_unreachable", "The project's machine is not answering; try again."
            ) from error


def _is_sprite_service(project: Project, name: str) -> bool:
    if project.status != Status.RUNNING:
        raise BridgeError(409, "not_running", "The project is not running; wake it first.")
    return name in sprite_state(project)


async def _follow_sprite_log(project: Project, name: str, count: int) -> AsyncIterator[str]:
    """A Sprite service's log, live, by reading its end again every ``FOLLOW_POLL_SECONDS``
    (the Sprites API's logs call answers with the end of the log and closes)."""
    deadline = time.monotonic() + FOLLOW_MAX_SECONDS
    previous: list[str] = []
    sent = 0
    read = database_sync_to_async(sprite_services.service_log, thread_sensitive=False)
    while time.monotonic() < deadline:
        try:
            current = [
                line
                for line in map(clean_log_line, await read(project, name, FOLLOW_WINDOW_LINES))
                if line is not None
            ]
        except SpriteError as error:
            if sent:
                return
            raise BridgeError.wrapping(from_sprite_error(error)) from error
        fresh = current[-count:] if not sent and not previous else new_lines(previous, current)
        for line in fresh:
            yield line
            sent += 1
            if sent >= FOLLOW_MAX_LINES:
                return
        previous = current
        await asyncio.sleep(FOLLOW_POLL_SECONDS)


def new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of ``current`` after the longest end of ``previous`` it starts with (two
    reads of the end of one growing log overlap there)."""
    for start in range(len(previous)):
        overlap = previous[start:]
        if current[: len(overlap)] == overlap:
            return current[len(overlap) :]
    return current


def _refusal(response: httpx.Response) -> BridgeError:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    code = _field(body, "error")
    message = _field(body, "message")
    status = response.status_code if response.status_code < 500 else 502
    return BridgeError(
        status,
        code if isinstance(code, str) else "bridge_error",
        message[:MAX_TEXT_CHARS] if isinstance(message, str) else "The bridge refused the log.",
    )


class LogEventParser:
    """The bridge's log stream (SSE ``log`` events, ``data: {"line": ...}``) as lines of text.

    Only ``log`` events count; comments (keep-alives) and other events are skipped. A
    partial event larger than ``FOLLOW_MAX_PENDING_CHARS`` is refused (ValueError).
    """

    def __init__(self) -> None:
        self._pending = ""
        self._type = "message"
        self._data: list[str] = []

    def feed(self, text: str) -> list[str]:
        buffer = self._pending + text
        # A chunk that ends in "\r" may be half of a "\r\n": keep it for the next one.
        held = "\r" if buffer.endswith("\r") else ""
        buffer = buffer.removesuffix("\r").replace("\r\n", "\n").replace("\r", "\n")
        *complete, rest = buffer.split("\n")
        self._pending = rest + held
        if len(self._pending) > FOLLOW_MAX_PENDING_CHARS:
            raise ValueError("the bridge sent an endless log line")
        lines: list[str] = []
        for raw in complete:
            if raw == "":
                line = self._dispatch()
                if line is not None:
                    lines.append(line)
                continue
            field, _, value = raw.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                self._type = value
            elif field == "data":
                self._data.append(value)
                if sum(map(len, self._data)) > FOLLOW_MAX_PENDING_CHARS:
                    raise ValueError("the bridge sent an endless log event")
        return lines

    def _dispatch(self) -> str | None:
        kind, data = self._type, "\n".join(self._data)
        self._type, self._data = "message", []
        if kind != "log" or not data:
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            return None
        return clean_log_line(_field(payload, "line"))
