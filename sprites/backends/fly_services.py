"""The agent's services as Sprite services (the fly backend's ``SpriteServiceHost`` half).

A Sprite supervises its services itself: it restarts a crashed one with backoff
(``restart_count``, ``next_restart_at``), keeps its output for the logs endpoint, and keeps
the definitions through hibernation. The bridge (``starter-bridge``, the Sprite's one
``http_port``) is also a Sprite service: none of these methods ever touch it, and no agent
service gets ``http_port`` (the bridge's proxy reaches an agent's app on its own port).

Everything a caller passes is checked here too, whoever checked it before: a name is one
URL path segment, the working directory is inside the home, the command is one line that
``bash -lc`` runs, and the environment cannot replace what the Sprite or bash rely on.
sprites-py has no call for ``restart`` or ``logs``; those two go over HTTP directly, with the
same token and the same quoting.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from sprites.backends.base import (
    SpriteError,
    SpriteService,
    SpriteServiceAction,
    SpriteServiceDefinition,
    SpriteServiceStatus,
    environment_name_problem,
    validate_service_name,
    validate_sprite_name,
)
from sprites.backends.fly_bootstrap import BRIDGE_SERVICE
from sprites.backends.fly_errors import translated
from sprites.backends.home_paths import confined_remote_path

MAX_COMMAND_CHARS = 4000
MAX_ENVIRONMENT_VARIABLES = 200
MAX_LOG_LINES = 2000
MAX_LOG_LINE_CHARS = 4000
MAX_LOG_BYTES = 4 * 1024 * 1024
# Variables the control plane itself gives every service (no secret among them).
STARTER_SERVICE_VARIABLES = frozenset(
    {"STARTER_PROJECT_ID", "STARTER_SECRET_NAMES", "STARTER_SERVICE_NAME", "STARTER_HOME"}
)
# Set by this module: the definition's fingerprint, read back by ``list_services``.
FINGERPRINT_VARIABLE = "STARTER_SERVICE_DEFINITION"
_RESERVED_SERVICES = frozenset({BRIDGE_SERVICE})
# Anything below a space but the tab: a newline would start a second command line.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_definition(definition: SpriteServiceDefinition, home: str) -> str:
    """Refuse a definition that could reach beyond its own service; returns its cwd."""
    validate_service_name(definition.name, reserved=_RESERVED_SERVICES)
    command = definition.command
    if not command.strip() or len(command) > MAX_COMMAND_CHARS:
        raise SpriteError(f"A service's command has 1 to {MAX_COMMAND_CHARS} characters.")
    if _CONTROL_CHARACTER.search(command):
        raise SpriteError(
            "A service's command is one line without control characters; put longer"
            " scripts in a file and run that."
        )
    if len(definition.environment) > MAX_ENVIRONMENT_VARIABLES:
        raise SpriteError(f"A service gets at most {MAX_ENVIRONMENT_VARIABLES} variables.")
    for variable, value in definition.environment.items():
        problem = environment_name_problem(variable)
        if problem is not None and variable not in STARTER_SERVICE_VARIABLES:
            raise SpriteError(f"The service's variable {variable!r} is refused: {problem}.")
        if not isinstance(value, str) or "\x00" in value:
            raise SpriteError(f"The service's variable {variable!r} has no usable value.")
    port = definition.port
    valid_port = isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536
    if port is not None and not valid_port:
        raise SpriteError(f"A service's port is a number from 1 to 65535, not {port!r}.")
    return confined_remote_path(home, definition.cwd or home)


def service_environment(definition: SpriteServiceDefinition) -> dict[str, str]:
    environment = dict(definition.environment)
    if definition.port is not None:
        environment["PORT"] = str(definition.port)
    environment[FINGERPRINT_VARIABLE] = definition.fingerprint()
    return environment


def _status_of(raw: Any) -> SpriteServiceStatus:
    """The Sprites API documents ``running`` and ``stopped``; any other word with a
    ``next_restart_at`` is a crashed service waiting for its restart (the fake says
    ``failed``), and without one a service nothing will restart."""
    state = raw.state
    if state is None:
        return "stopped"
    status = str(state.status or "").lower()
    if status == "running":
        return "running"
    if status in ("starting", "restarting"):
        return "starting"
    if state.next_restart_at is not None:
        return "backoff"
    if status in ("stopped", "stopping", "exited", "") and not state.error:
        return "stopped"
    return "error"


def _service_of(raw: Any) -> SpriteService:
    state = raw.state
    args = [str(arg) for arg in (raw.args or [])]
    command = args[-1] if raw.cmd == "bash" and args[:1] == ["-lc"] else " ".join(args)
    return SpriteService(
        name=str(raw.name),
        status=_status_of(raw),
        command=command,
        cwd=raw.dir,
        pid=state.pid if state and isinstance(state.pid, int) else None,
        started_at=state.started_at if state else None,
        restart_count=int(state.restart_count or 0) if state else 0,
        next_restart_at=state.next_restart_at if state else None,
        error=str(state.error)[:500] if state and state.error else None,
        fingerprint=str((raw.env or {}).get(FINGERPRINT_VARIABLE, ""))[:64],
    )


def _log_lines(body: str, lines: int) -> list[str]:
    """The output lines in an NDJSON stream of service events, oldest first."""
    collected: list[str] = []
    for record in body.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(record)
            if not isinstance(event, dict) or event.get("type") not in ("stdout", "stderr"):
                continue
            data = event.get("data")
            if isinstance(data, str):
                collected.extend(line[:MAX_LOG_LINE_CHARS] for line in data.splitlines())
    return collected[-lines:]


def _raise_for_status(errors: Any, response: httpx.Response, body: bytes) -> None:
    """Raise what sprites-py raises for a failed service call, so ``translated`` says it."""
    if response.status_code >= 400:
        raise errors.APIError(
            f"Failed service call (status {response.status_code})",
            status_code=response.status_code,
            response=body.decode("utf-8", errors="replace")[:2000],
        )


class FlyServiceMethods:
    """Mixed into ``FlyBackend``: it provides the attributes declared here."""

    home: str
    base_url: str
    _token: str
    _errors: Any

    def _sprite(self, name: str) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def define_service(self, name: str, definition: SpriteServiceDefinition) -> SpriteService:
        cwd = check_definition(definition, self.home)
        async with self._sprite(name) as sprite:
            with translated(f"define service {definition.name!r} in Sprite {name!r}"):
                # A PUT of a running service replaces its definition but keeps the old
                # process (and its old environment) on the real API: stop it first.
                with contextlib.suppress(self._errors.APIError):  # 404 or 409: not running
                    await sprite.stop_service(definition.name)
                await sprite.create_service(
                    definition.name,
                    "bash",
                    ["-lc", definition.command],
                    env=service_environment(definition),
                    dir=cwd,
                )
                raw = await sprite.get_service(definition.name)
                if raw.state is None or raw.state.status not in ("running", "starting"):
                    await sprite.start_service(definition.name)
                    raw = await sprite.get_service(definition.name)
        return _service_of(raw)

    async def delete_service(self, name: str, service: str) -> None:
        validate_service_name(service, reserved=_RESERVED_SERVICES)
        async with self._sprite(name) as sprite:
            with translated(f"delete service {service!r} in Sprite {name!r}"):
                with contextlib.suppress(self._errors.APIError):  # not running
                    await sprite.stop_service(service)
                try:
                    await sprite.delete_service(service)
                except self._errors.APIError as error:
                    if error.status_code != 404:
                        raise

    async def list_services(self, name: str) -> list[SpriteService]:
        """Every service of the Sprite but the bridge (names as the Sprite reports them:
        untrusted, so callers match them against their own)."""
        async with self._sprite(name) as sprite:
            with translated(f"list the services of Sprite {name!r}"):
                listed = await sprite.list_services()
        return [_service_of(raw) for raw in listed if raw.name not in _RESERVED_SERVICES]

    async def service_action(
        self, name: str, service: str, action: SpriteServiceAction
    ) -> SpriteService:
        validate_service_name(service, reserved=_RESERVED_SERVICES)
        if action not in ("start", "stop", "restart"):
            raise SpriteError(f"Unknown service action {action!r}: start, stop or restart.")
        async with self._sprite(name) as sprite:
            with translated(f"{action} service {service!r} in Sprite {name!r}"):
                if action == "start":
                    await sprite.start_service(service)
                elif action == "stop":
                    try:
                        await sprite.stop_service(service)
                    except self._errors.APIError as error:
                        if error.status_code != 409:  # 409: it was not running
                            raise
                else:
                    async with self._service_http(name, service, "restart") as (client, url):
                        response = await client.post(url)
                        _raise_for_status(self._errors, response, await response.aread())
                raw = await sprite.get_service(service)
        return _service_of(raw)

    async def service_logs(self, name: str, service: str, lines: int = 200) -> list[str]:
        validate_service_name(service, reserved=_RESERVED_SERVICES)
        lines = max(1, min(int(lines), MAX_LOG_LINES))
        async with self._service_http(name, service, "logs") as (client, url):
            with translated(f"read the log of service {service!r} in Sprite {name!r}"):
                async with client.stream("GET", url, params={"lines": str(lines)}) as response:
                    if response.status_code >= 400:
                        _raise_for_status(self._errors, response, await response.aread())
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_LOG_BYTES:  # a hostile or runaway log
                            del body[: len(body) - MAX_LOG_BYTES]
        return _log_lines(body.decode("utf-8", errors="replace"), lines)

    @contextlib.asynccontextmanager
    async def _service_http(
        self, name: str, service: str, tail: str
    ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A client and the URL of ``/services/{service}/{tail}``, for what sprites-py lacks."""
        validate_sprite_name(name)
        url = (
            f"{self.base_url}/v1/sprites/{quote(name, safe='')}"
            f"/services/{quote(service, safe='')}/{tail}"
        )
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(headers=headers, timeout=120.0) as client:
            with translated(f"{tail} service {service!r} in Sprite {name!r}"):
                yield client, url
