"""The agent's services on a backend whose Sprites supervise them (fly): Sprite services
made by the control plane from the bridge's registry.

Why the control plane, and how
------------------------------
The bridge keeps the registry (``~/.starter/services.json``, ``GET /starter/services``;
bridge_agent/protocol.py). On ``local`` it also runs the services. On ``fly`` the Sprite
should run them: a Sprite service is restarted on crash with backoff, keeps its output for
the logs endpoint and survives hibernation, which a child of the bridge does not. But only
the Sprites API defines a Sprite service, and its token is organisation-wide: it must never
enter a Sprite. So, on fly, the bridge runs in the ``sprite`` runner mode
(``STARTER_SERVICE_RUNNER=sprite`` in its environment): it records a long-running service and
reports it, without spawning it (cron jobs it still runs itself), and this module makes the
Sprite's services match the registry: ``reconcile``.

``reconcile`` is level-triggered and idempotent: it reads the whole registry and the
Sprite's services and fixes every difference, so it does not matter which trigger ran it,
how often, or whether an event was missed. The triggers:

* a lifecycle step, inline, once the bridge answers: bootstrap, wake (so a visit that wakes
  a project finds its app), a checkpoint restore (the registry came back with the files),
  new secrets (the services get the new values);
* the relay, when the bridge's event stream carries ``service_changed`` or
  ``service_removed`` (the agent just defined or removed one: a few hundred milliseconds);
* beat, every ``STARTER_SERVICE_RECONCILE_SECONDS``, for every running fly project, because
  the relay only follows a project somebody watches, and an agent run started through the
  API has no viewer. A tick whose registry did not change since the last reconcile (its
  digest is kept in Redis for ``FULL_CHECK_SECONDS``) costs the Sprite's URL lookup and one
  request to the bridge; it lists and changes no Sprite service.

The bridge cannot tell the control plane itself: a Sprite has no credential for the control
plane (and giving it one would open a door into it); polling what the bridge already
serves needs nothing new.

Everything in the registry is untrusted (a Sprite is hostile): each entry is checked here
(name, type, command, directory, port) and again by the backend; a Sprite service's name is
``agent-<name>``, so no entry can reach the bridge's own service or any service this module
did not make; the Sprite is always the project's own (``project.sprite_name``, from the
database), never a name from the registry; and the environment is always the project's
current secrets, the same values the bridge gets (never its token), never anything the
bridge reports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from celery import current_app
from django.conf import settings

from bridge_agent.protocol import (
    MAX_SERVICE_COMMAND_CHARS,
    MAX_SERVICES,
    SERVICE_NAME_PATTERN,
    SERVICE_TYPES,
    SERVICES_PATH,
)
from projects.models import Project
from projects.sprite.backend import backend_for
from projects.sprite.environment import ensure_bridge_token, sprite_environment
from sprites.backends import SpriteError, run_sync
from sprites.backends.base import (
    SpriteService,
    SpriteServiceAction,
    SpriteServiceDefinition,
    SpriteServiceHost,
    environment_name_problem,
    service_host,
)
from sprites.backends.fly_bootstrap import BRIDGE_HTTP_PORT
from sprites.backends.fly_services import STARTER_SERVICE_VARIABLES
from sprites.backends.home_paths import confined_remote_path
from starter.redis import redis_client

logger = logging.getLogger(__name__)

RECONCILE_TASK = "projects.tasks.reconcile_project_services"

SPRITE_SERVICE_PREFIX = "agent-"
SPRITE_HOME = "/home/sprite"
MAX_REGISTRY_BYTES = 1024 * 1024
REGISTRY_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# A registry unchanged since the last reconcile is checked against the Sprite again after
# this long anyway (someone may have changed the Sprite's services behind our back).
FULL_CHECK_SECONDS = 300
# The relay's trigger asks for at most one reconcile per project in this many seconds.
REQUEST_INTERVAL_SECONDS = 1.0
_SERVICE_NAME = re.compile(SERVICE_NAME_PATTERN)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

Desired = Literal["running", "stopped"]


@dataclass(frozen=True)
class RegisteredService:
    """One long-running service of the bridge's registry, checked."""

    name: str
    command: str
    cwd: str
    port: int | None
    desired: Desired

    @property
    def sprite_service(self) -> str:
        return sprite_service_name(self.name)


@dataclass
class ReconcileReport:
    defined: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # Entries of the registry that were refused, and calls that failed, for people.
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.defined or self.started or self.stopped or self.deleted)


def sprite_service_name(name: str) -> str:
    return f"{SPRITE_SERVICE_PREFIX}{name}"


def host_for(project: Project) -> SpriteServiceHost | None:
    """The project's backend when its Sprites supervise the services (fly), else None."""
    return service_host(backend_for(project))


# -- the registry, as the bridge reports it (untrusted) ---------------------------------------


def _entry_problem(entry: Any) -> tuple[RegisteredService | None, str | None]:
    """``(service, None)``, ``(None, None)`` for an entry that is not ours to run (cron), or
    ``(None, why)`` for one that is refused."""
    if not isinstance(entry, dict):
        return None, "an entry that is not an object"
    name = entry.get("name")
    if not isinstance(name, str) or not _SERVICE_NAME.fullmatch(name):
        return None, f"a service with an invalid name {str(name)[:60]!r}"
    kind = entry.get("type")
    if kind not in SERVICE_TYPES:
        return None, f"service {name}: unknown type {str(kind)[:20]!r}"
    if kind == "cron":
        return None, None  # the bridge runs cron jobs itself, on every backend
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        return None, f"service {name}: no command"
    if len(command) > MAX_SERVICE_COMMAND_CHARS or _CONTROL_CHARACTER.search(command):
        return None, f"service {name}: the command must be one line of at most" + (
            f" {MAX_SERVICE_COMMAND_CHARS} characters"
        )
    cwd = entry.get("cwd") or SPRITE_HOME
    if not isinstance(cwd, str):
        return None, f"service {name}: an invalid working directory"
    try:
        cwd = confined_remote_path(SPRITE_HOME, _from_the_home(cwd))
    except SpriteError:
        return None, f"service {name}: the working directory is outside the home"
    port = entry.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535
    ):
        return None, f"service {name}: an invalid port"
    if port == BRIDGE_HTTP_PORT:
        return None, f"service {name}: port {port} is the bridge's"
    desired = entry.get("desired", "running")
    if desired not in ("running", "stopped"):
        return None, f"service {name}: an invalid desired state"
    return RegisteredService(name, command, cwd, port, desired), None


def _from_the_home(cwd: str) -> str:
    """The bridge lists a directory as an absolute path under its home: ``/home/sprite/...``
    in a Sprite, ``<somewhere>/home/sprite/...`` in the fake Sprites API (whose homes are
    directories of the test machine). Either way the part from ``/home/sprite`` on is the
    Sprite's path; whatever it is, it is then confined to the home."""
    if cwd.startswith("/") and not cwd.startswith(SPRITE_HOME):
        marker = cwd.find(SPRITE_HOME + "/")
        if marker < 0 and cwd.endswith(SPRITE_HOME):
            marker = len(cwd) - len(SPRITE_HOME)
        if marker > 0:
            return cwd[marker:]
    return cwd


def parse_registry(payload: Any) -> tuple[list[RegisteredService], list[str]]:
    """The long-running services of a ``GET /starter/services`` answer, and what was refused."""
    entries = payload.get("services") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        return [], ["the bridge's registry is not a list of services"]
    services: list[RegisteredService] = []
    problems: list[str] = []
    seen: set[str] = set()
    for entry in entries[: MAX_SERVICES * 2]:
        service, problem = _entry_problem(entry)
        if problem:
            problems.append(problem)
        if service is None:
            continue
        if service.name in seen:
            problems.append(f"service {service.name}: listed twice")
            continue
        if len(services) >= MAX_SERVICES:
            problems.append(f"more than {MAX_SERVICES} services")
            break
        seen.add(service.name)
        services.append(service)
    return services, problems


def fetch_registry(project: Project) -> Any:
    """The bridge's ``GET /starter/services`` answer. Not counted as activity (beat asks it
    of running projects only, and asking must not keep one awake)."""
    backend = backend_for(project)
    endpoint = run_sync(backend.bridge_endpoint(project.sprite_name, ensure_bridge_token(project)))
    try:
        with httpx.Client(timeout=REGISTRY_TIMEOUT) as client:
            with client.stream(
                "GET", endpoint.base_url + SERVICES_PATH, headers=dict(endpoint.headers)
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_REGISTRY_BYTES:
                        raise SpriteError("The bridge's service registry is too large.")
                status = response.status_code
    except httpx.HTTPError as error:
        raise SpriteError(
            f"The bridge did not answer for its services: {type(error).__name__}", retryable=True
        ) from error
    if status != 200:
        raise SpriteError(
            f"The bridge answered {status} for its services.", retryable=status >= 500
        )
    try:
        return json.loads(body)
    except ValueError as error:
        raise SpriteError("The bridge's service registry is not JSON.") from error


# -- what the Sprite should run -----------------------------------------------------------------


def service_environment(project: Project) -> dict[str, str]:
    """The project's current secrets and keys, as the bridge gets them: never the bridge's
    token, never a name the Sprite or bash rely on (a secret cannot have one anyway)."""
    return {
        name: value
        for name, value in sprite_environment(project).items()
        if environment_name_problem(name) is None or name in STARTER_SERVICE_VARIABLES
    }


def definition_for(
    service: RegisteredService, environment: dict[str, str]
) -> SpriteServiceDefinition:
    # What the bridge gives the services it runs itself, besides the secrets.
    own = {"STARTER_SERVICE_NAME": service.name, "STARTER_HOME": SPRITE_HOME}
    return SpriteServiceDefinition(
        name=service.sprite_service,
        command=service.command,
        cwd=service.cwd,
        environment={**environment, **own},
        port=service.port,
    )


def reconcile(
    project: Project, *, registry: Any = None, force: bool = False, redefine: bool = False
) -> ReconcileReport:
    """Make the Sprite's ``agent-*`` services match the bridge's registry (see the module).

    ``registry``: an answer already read from the bridge (else it is fetched). ``force``
    checks against the Sprite even when the registry did not change since last time;
    ``redefine`` (new secrets) defines again every service whose Sprite does not report
    the fingerprint of its definition (the API's listing may leave the environment out).
    Failures of single services are reported, not raised; a bridge or a Sprites API that
    cannot be reached raises ``SpriteError``.
    """
    report = ReconcileReport()
    host = host_for(project)
    if host is None or not project.sprite_name:
        return report
    if registry is None:
        registry = fetch_registry(project)
    wanted, report.problems = parse_registry(registry)
    environment = service_environment(project)
    definitions = {s.sprite_service: (s, definition_for(s, environment)) for s in wanted}
    digest = _digest(definitions)
    if not force and _unchanged(project, digest):
        return report
    actual = {
        service.name: service
        for service in run_sync(host.list_services(project.sprite_name))
        if service.name.startswith(SPRITE_SERVICE_PREFIX)
    }
    failed = False
    for sprite_service, (service, definition) in definitions.items():
        current = actual.get(sprite_service)
        try:
            _apply(host, project, service, definition, current, report, redefine=redefine)
        except SpriteError as error:
            failed = True
            logger.warning("service %s of %s: %s", sprite_service, project.public_id, error)
            report.problems.append(f"service {service.name}: {error.message}")
    for sprite_service in sorted(set(actual) - set(definitions)):
        try:
            run_sync(host.delete_service(project.sprite_name, sprite_service))
            report.deleted.append(sprite_service)
        except SpriteError as error:
            failed = True
            report.problems.append(f"{sprite_service}: {error.message}")
    if not failed:  # a failed call is tried again on the next trigger
        _remember(project, digest)
    if report.problems:
        logger.info("services of %s: %s", project.public_id, "; ".join(report.problems))
    return report


def _apply(
    host: SpriteServiceHost,
    project: Project,
    service: RegisteredService,
    definition: SpriteServiceDefinition,
    current: SpriteService | None,
    report: ReconcileReport,
    *,
    redefine: bool = False,
) -> None:
    sprite = project.sprite_name
    if service.desired == "stopped":
        if current is not None and current.status in ("running", "starting", "backoff"):
            run_sync(host.service_action(sprite, definition.name, "stop"))
            report.stopped.append(definition.name)
        return
    if current is None or _outdated(current, definition, redefine=redefine):
        run_sync(host.define_service(sprite, definition))
        report.defined.append(definition.name)
    elif current.status in ("stopped", "error"):
        run_sync(host.service_action(sprite, definition.name, "start"))
        report.started.append(definition.name)


def _outdated(
    current: SpriteService, definition: SpriteServiceDefinition, *, redefine: bool
) -> bool:
    """Whether the Sprite service was made from another definition. Its fingerprint says it
    when the Sprite reports it; otherwise its command and directory do, and new secrets
    (``redefine``) are assumed to differ: better one restart too many than a service that
    never gets a rotated key, or one restarted on every check."""
    if current.fingerprint:
        return current.fingerprint != definition.fingerprint()
    return redefine or (current.command, current.cwd) != (definition.command, definition.cwd)


def _digest(definitions: dict[str, tuple[RegisteredService, SpriteServiceDefinition]]) -> str:
    parts = sorted(f"{name}:{s.desired}:{d.fingerprint()}" for name, (s, d) in definitions.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _digest_key(project: Project) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:sprite-services:{project.pk}"


def _unchanged(project: Project, digest: str) -> bool:
    stored = redis_client().get(_digest_key(project))
    return stored is not None and stored.decode() == digest


def _remember(project: Project, digest: str) -> None:
    redis_client().set(_digest_key(project), digest, ex=FULL_CHECK_SECONDS)


def forget_reconciled(project: Project) -> None:
    """The Sprite's services changed under us (sleep, restore): check them next time."""
    redis_client().delete(_digest_key(project))


def reconcile_now_or_later(
    project: Project, *, force: bool = True, redefine: bool = False, wait: float = 20.0
) -> None:
    """A lifecycle step's trigger: reconcile inline (so a woken project's app is up when the
    step ends), waiting up to ``wait`` seconds for a bridge that is still starting; if that
    fails, leave it to the task (with retries) rather than fail the step."""
    if host_for(project) is None:
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            reconcile(project, force=force, redefine=redefine)
            return
        except SpriteError as error:
            if not error.retryable or time.monotonic() >= deadline:
                logger.warning("services of %s not reconciled: %s", project.public_id, error)
                break
        time.sleep(0.5)
    _enqueue_reconcile(project.pk, {"force": True, "redefine": redefine})


def request_reconcile(public_id: str) -> None:
    """The relay saw the bridge's registry change: reconcile soon (fly projects only)."""
    if settings.STARTER_SPRITES_BACKEND != "fly":
        return
    project_id = Project.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    if project_id is None:
        return
    # The events come from the Sprite: a bridge that sends a flood of them gets one
    # reconcile per interval, not one per event. The first event of an interval schedules
    # it for the interval's end, so it reads the registry after every event of the interval.
    key = f"{settings.STARTER_REDIS_PREFIX}:sprite-services-requested:{project_id}"
    if not redis_client().set(key, "1", nx=True, px=int(REQUEST_INTERVAL_SECONDS * 1000)):
        return
    _enqueue_reconcile(project_id, {}, countdown=REQUEST_INTERVAL_SECONDS)


def _enqueue_reconcile(
    project_id: int, options: dict[str, bool], countdown: float | None = None
) -> None:
    # By the task's name: the lifecycle steps call this module, and the tasks call the steps,
    # so importing the tasks here would close a circle. The registered task runs it (eager
    # mode included).
    current_app.signature(RECONCILE_TASK, args=(project_id,), kwargs=options).apply_async(
        countdown=countdown
    )


# -- what the dashboard asks on fly -------------------------------------------------------------


def sprite_services(project: Project) -> dict[str, SpriteService] | None:
    """The Sprite's view of each agent service, by the registry's name (None on local)."""
    host = host_for(project)
    if host is None or not project.sprite_name:
        return None
    listed = run_sync(host.list_services(project.sprite_name))
    return {
        service.name.removeprefix(SPRITE_SERVICE_PREFIX): service
        for service in listed
        if service.name.startswith(SPRITE_SERVICE_PREFIX)
    }


def with_sprite_state(
    registry: list[dict[str, Any]], states: dict[str, SpriteService]
) -> list[dict[str, Any]]:
    """The bridge's list with each long-running service's status taken from its Sprite
    service (the bridge in ``sprite`` mode knows what it wants, not what runs)."""
    merged = []
    for entry in registry:
        state = states.get(str(entry.get("name")))
        if state is None or entry.get("type") == "cron":
            merged.append(entry)
            continue
        merged.append(
            {
                **entry,
                "status": state.status,
                "pid": state.pid,
                "restart_count": state.restart_count,
                "next_restart_at": _iso(state.next_restart_at),
                "started_at": _iso(state.started_at),
            }
        )
    return merged


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def apply_action(project: Project, name: str, action: SpriteServiceAction) -> SpriteService:
    """Start, stop or restart an agent's Sprite service (after the bridge recorded the
    wish: see ``projects.bridge`` for the one entry point)."""
    host = host_for(project)
    if host is None:
        raise SpriteError("This project's services are run by its bridge, not by the Sprite.")
    if not isinstance(name, str) or not _SERVICE_NAME.fullmatch(name):
        raise SpriteError(f"There is no service {name!r}.")
    sprite_service = sprite_service_name(name)
    forget_reconciled(project)
    if action == "stop":
        return run_sync(host.service_action(project.sprite_name, sprite_service, "stop"))
    # The bridge has recorded "running": reconciling defines it if the Sprite does not have
    # it yet (defined while stopped, a registry just restored) and starts it if stopped.
    report = reconcile(project, force=True)
    if action == "restart" and sprite_service not in report.defined + report.started:
        return run_sync(host.service_action(project.sprite_name, sprite_service, "restart"))
    current = (sprite_services(project) or {}).get(name)
    if current is None:
        raise SpriteError(f"There is no service {name!r} to {action}.")
    return current


def service_log(project: Project, name: str, lines: int = 200) -> list[str]:
    host = host_for(project)
    if host is None:
        raise SpriteError("This project's service logs are kept by its bridge.")
    if not isinstance(name, str) or not _SERVICE_NAME.fullmatch(name):
        raise SpriteError(f"There is no service {name!r}.")
    return run_sync(host.service_logs(project.sprite_name, sprite_service_name(name), lines))
