"""The supervisor: runs the services the agent defined, and their cron schedules.

Ownership (STYLE habit 9): each service has at most one loop task (``_keep_running`` for an
app, api or worker; ``_keep_scheduled`` for a cron job) and at most one manual cron run;
the supervisor cancels and awaits them on stop, removal and shutdown, and a cancelled loop
ends its process group (SIGTERM, a grace period, SIGKILL) before it finishes. Every change
of what a service is doing is a ``service_changed`` event and an update of its inspect.db row.

Every mutation (define, remove, an action, new secrets) holds one lock, so two requests
never interleave their stops and starts of the same service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from bridge_agent import protocol
from bridge_agent.concurrency import watched_task
from bridge_agent.config import BridgeConfig
from bridge_agent.environment import SpriteEnvironment
from bridge_agent.errors import ApiError
from bridge_agent.event_log import EventLog
from bridge_agent.services import paths, store
from bridge_agent.services.logfile import ServiceLog, read_tail
from bridge_agent.services.mirror import InspectMirror
from bridge_agent.services.registry import Registered, load_registry, save_registry
from bridge_agent.services.runner import (
    GroupRecord,
    LocalRunner,
    OutputCallback,
    ServiceProcess,
    ServiceRunner,
)
from bridge_agent.services.schedule import parse_schedule
from bridge_agent.services.spec import ServiceSpec, SpecError, check_name, parse_spec, resolve_cwd
from bridge_agent.services.state import (
    INSPECT_STATUSES,
    ServiceState,
    describe,
    iso,
    not_found,
    utc_now,
)

logger = logging.getLogger("bridge_agent.services")

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
# A service up this long counts as healthy: its next crash backs off from FIRST_BACKOFF again.
HEALTHY_AFTER = 60.0
# Sleeps toward a cron due time are cut in slices: a machine that was suspended (asyncio's
# monotonic clock stood still) notices the wall clock's jump within one slice.
SCHEDULE_SLICE = 30.0
RUN_OUTPUT_BYTES = protocol.MAX_RUN_OUTPUT_CHARS * 4


class ServiceSupervisor:
    """Owns every service process and cron run of the bridge."""

    def __init__(
        self,
        config: BridgeConfig,
        environment: SpriteEnvironment,
        log: EventLog,
        long_running_runner: ServiceRunner | None = None,
    ) -> None:
        self.config = config
        self.environment = environment
        self.events = log
        self.groups = GroupRecord(paths.groups_path(config))
        # Cron runs always run here; long-running services by ``long_running_runner`` (a
        # backend may run them elsewhere), locally by default.
        self.local_runner = LocalRunner(self.groups)
        self.runner: ServiceRunner = long_running_runner or self.local_runner
        self.mirror = InspectMirror(config.inspect_db_path)
        self.services: dict[str, ServiceState] = {}
        self._lock = asyncio.Lock()
        # Set by close(): a request that waited for the lock meanwhile starts nothing.
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every service that should run (after a wake, a restart or a restore)."""
        paths.make_command_executable()
        ended = await asyncio.to_thread(self.groups.end_leftovers)
        if ended:
            logger.warning("ended %d service process group(s) a previous bridge left", ended)
        try:
            await asyncio.to_thread(
                store.ensure_runs_table, self.config.inspect_db_path, iso(utc_now()) or ""
            )
        except (sqlite3.Error, OSError):
            # The agent's inspect.db is broken; services still run, runs are recorded later.
            logger.exception("inspect.db: the service_runs table could not be made")
        self.mirror.start()
        registered = await asyncio.to_thread(load_registry, paths.registry_path(self.config))
        async with self._lock:
            for name, item in registered.items():
                state = ServiceState(item, ServiceLog(paths.logs_dir(self.config), name))
                runs = await asyncio.to_thread(
                    store.list_runs, self.config.inspect_db_path, name, 1
                )
                state.last_run = runs[0] if runs else None
                self.services[name] = state
                if item.desired == "running":
                    self._launch(state)
                else:
                    self._changed(state)
        self.environment.subscribe(self._environment_changed)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            states = list(self.services.values())
            await asyncio.gather(*(self._halt(state, emit=False) for state in states))
            for state in states:
                state.log.close()
        await self.mirror.close()

    # -- reading ---------------------------------------------------------------------------

    def all(self) -> list[dict[str, Any]]:
        return [self.describe(state) for state in self.services.values()]

    def get(self, name: str) -> dict[str, Any]:
        return self.describe(self._state(name))

    def describe(self, state: ServiceState) -> dict[str, Any]:
        return describe(state, self.config.home)

    def log_tail(self, name: str, lines: int) -> list[str]:
        self._state(name)
        return read_tail(paths.logs_dir(self.config), name, lines)

    def service_log(self, name: str) -> ServiceLog:
        return self._state(name).log

    async def runs(self, name: str) -> list[dict[str, Any]]:
        self._state(name)
        return await asyncio.to_thread(store.list_runs, self.config.inspect_db_path, name)

    # -- changing --------------------------------------------------------------------------

    async def define(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Define a service (or redefine one of the same name) and start it; answers the
        service and whether it is new."""
        try:
            spec = parse_spec(body, self.config.home, self.config.port)
        except SpecError as error:
            raise ApiError(400, "invalid_service", str(error)) from error
        async with self._lock:
            self._require_open()
            existing = self.services.get(spec.name)
            if existing is None and len(self.services) >= protocol.MAX_SERVICES:
                raise ApiError(
                    400,
                    "too_many_services",
                    f"A project has at most {protocol.MAX_SERVICES} services; remove one first"
                    " (starter-service rm NAME).",
                )
            if spec.port is not None:
                for other in self.services.values():
                    if other.spec.name != spec.name and other.spec.port == spec.port:
                        raise ApiError(
                            400,
                            "port_taken",
                            f"Port {spec.port} is already service {other.spec.name!r}'s;"
                            " pick another port or remove that service.",
                        )
            if existing is not None:
                await self._halt(existing, emit=False)
                existing.registered = Registered(spec, "running")
                existing.restart_count = 0
                state = existing
            else:
                state = ServiceState(
                    Registered(spec, "running"), ServiceLog(paths.logs_dir(self.config), spec.name)
                )
                self.services[spec.name] = state
            self._save()
            state.log.note(f"defined: {spec.command}")
            self._launch(state)
            return self.describe(state), existing is None

    async def remove(self, name: str) -> None:
        async with self._lock:
            self._require_open()
            state = self._state(name)
            await self._halt(state, emit=False)
            state.log.close()
            del self.services[name]
            self._save()
            self.mirror.put(name, None)
            self.events.append(protocol.EVENT_SERVICE_REMOVED, {"name": name})

    async def act(self, name: str, action: str) -> dict[str, Any]:
        if action not in protocol.SERVICE_ACTIONS:
            raise ApiError(
                400, "invalid_action", f"Unknown action; use {', '.join(protocol.SERVICE_ACTIONS)}."
            )
        async with self._lock:
            self._require_open()
            state = self._state(name)
            if action == "run":
                self._run_now(state)
            elif action == "stop":
                state.registered.desired = "stopped"
                state.registered.next_run_at = None
                self._save()
                await self._halt(state)
            else:  # start, restart
                if action == "restart" or state.loop is None or state.loop.done():
                    await self._halt(state, emit=False)
                    state.registered.desired = "running"
                    if action == "restart":
                        state.restart_count = 0
                    self._save()
                    self._launch(state)
            return self.describe(state)

    async def _environment_changed(self) -> None:
        """New secrets: restart the running long-lived services so they see them (cron
        runs pick them up at their next start)."""
        async with self._lock:
            if self._closed:
                return
            for state in list(self.services.values()):
                if state.spec.type != "cron" and state.loop is not None:
                    state.log.note("restarting: the project's secrets changed")
                    await self._halt(state, emit=False)
                    self._launch(state)

    # -- running ---------------------------------------------------------------------------

    def _launch(self, state: ServiceState) -> None:
        # The status is set now, so the answer to the request that launched it says so.
        coroutine: Coroutine[Any, Any, None]
        if state.spec.type == "cron":
            assert state.spec.schedule is not None
            if state.registered.next_run_at is None:
                schedule = parse_schedule(state.spec.schedule)
                state.registered.next_run_at = schedule.next_after(utc_now())
                self._save()
            state.status = "scheduled"
            coroutine = self._keep_scheduled(state)
        else:
            state.status = "starting"
            coroutine = self._keep_running(state)
        state.loop = watched_task(
            coroutine, name=f"service-{state.spec.name}", logger=logger, forever=False
        )

    async def _halt(self, state: ServiceState, *, emit: bool = True) -> None:
        """Cancel the service's loop and manual run and wait until their processes ended."""
        tasks = [task for task in (state.loop, state.manual_run) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        state.loop = state.manual_run = None
        state.status, state.pid, state.next_restart_at = "stopped", None, None
        if emit:
            self._changed(state)

    async def _keep_running(self, state: ServiceState) -> None:
        delay = FIRST_BACKOFF
        while True:
            state.status, state.next_restart_at = "starting", None
            self._changed(state)
            process = await self._spawn(state, self.runner)
            if process is None:
                return
            began = time.monotonic()
            state.status, state.pid, state.started_at = "running", process.pid, utc_now()
            self._changed(state)
            code = await self._until_exit(state, process)
            if time.monotonic() - began >= HEALTHY_AFTER:
                delay = FIRST_BACKOFF
            state.restart_count += 1
            state.status = "backoff"
            state.next_restart_at = utc_now() + timedelta(seconds=delay)
            state.log.note(f"exited with status {code}; restarting in {delay:g} s")
            self._changed(state)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _keep_scheduled(self, state: ServiceState) -> None:
        assert state.spec.schedule is not None
        schedule = parse_schedule(state.spec.schedule)
        registered = state.registered
        first = True
        while True:
            now = utc_now()
            if registered.next_run_at is None:
                registered.next_run_at = schedule.next_after(now)
                self._save()
            if first and registered.next_run_at <= now:
                trigger = "missed"  # fell due while the bridge (or the project) was down
            else:
                state.status = "scheduled"
                self._changed(state)
                await _sleep_until(registered.next_run_at)
                trigger = "schedule"
            first = False
            async with state.job_lock:
                await self._run_job(state, trigger)
            registered.next_run_at = schedule.next_after(utc_now())
            self._save()

    def _run_now(self, state: ServiceState) -> None:
        if state.spec.type != "cron":
            raise ApiError(
                400, "not_a_cron_job", "Only a cron job runs on demand; use restart for a service."
            )
        if state.job_lock.locked():
            raise ApiError(409, "run_in_progress", "This job is running now; wait for its end.")

        async def run_manually() -> None:
            async with state.job_lock:
                await self._run_job(state, "manual")

        state.status = "running"  # now, so the answer to the request says so
        state.manual_run = watched_task(
            run_manually(), name=f"run-{state.spec.name}", logger=logger, forever=False
        )

    async def _run_job(self, state: ServiceState, trigger: str) -> None:
        name = state.spec.name
        started = utc_now()
        output = bytearray()

        def capture(chunk: bytes) -> None:
            state.log.write(chunk)
            output.extend(chunk)
            if len(output) > RUN_OUTPUT_BYTES:
                del output[:-RUN_OUTPUT_BYTES]

        state.status = "running"
        state.log.note(f"run ({trigger})")
        try:
            run_id = await asyncio.to_thread(
                store.start_run, self.config.inspect_db_path, name, iso(started) or "", trigger
            )
        except (sqlite3.Error, OSError):
            logger.warning("inspect.db: the run of %s is not recorded", name)
            run_id = 0
        code: int | None = None
        try:
            process = await self._spawn(state, self.local_runner, capture)
            if process is not None:
                state.pid, state.started_at = process.pid, started
                self._changed(state)
                code = await self._until_exit(state, process)
        finally:
            text = bytes(output).decode("utf-8", errors="replace")
            ended = iso(utc_now())
            run = store.run_json(run_id, name, iso(started) or "", ended, code, text, trigger)
            if run_id:
                try:
                    await asyncio.to_thread(
                        store.end_run, self.config.inspect_db_path, run_id, ended or "", code, text
                    )
                except (sqlite3.Error, OSError):
                    logger.warning("inspect.db: the end of run %s is not recorded", run_id)
            state.last_run, state.last_exit_code, state.pid = run, code, None
            state.status = "scheduled" if state.loop is not None else "stopped"
            self.events.append(protocol.EVENT_SERVICE_RUN, run)
            self._changed(state)

    async def _spawn(
        self, state: ServiceState, runner: ServiceRunner, on_output: OutputCallback | None = None
    ) -> ServiceProcess | None:
        """Start the service's process; None (status ``error``) when it cannot start."""
        spec = state.spec
        try:
            cwd = resolve_cwd(spec.cwd, self.config.home)
            process = await runner.start(
                spec.name,
                spec.command,
                cwd,
                self._environment_for(spec),
                on_output or state.log.write,
            )
        except (SpecError, OSError) as error:
            state.status, state.pid = "error", None
            state.log.note(f"cannot start: {error}")
            self._changed(state)
            return None
        state.log.note(f"started (pid {process.pid})")
        return process

    async def _until_exit(self, state: ServiceState, process: ServiceProcess) -> int:
        try:
            code = await process.wait()
        except BaseException:
            code = await process.stop()
            state.last_exit_code, state.pid = code, None
            state.log.note(f"stopped (status {code})")
            raise
        state.last_exit_code, state.pid = code, None
        return code

    def _environment_for(self, spec: ServiceSpec) -> dict[str, str]:
        environment = paths.with_service_command(self.config, self.environment.for_child())
        environment["STARTER_HOME"] = str(self.config.home)
        environment["STARTER_SERVICE_NAME"] = spec.name
        if spec.port is not None:
            environment["PORT"] = str(spec.port)
        return environment

    # -- bookkeeping -----------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._closed:
            raise ApiError(503, "shutting_down", "The bridge is stopping; try again shortly.")

    def _state(self, name: str) -> ServiceState:
        try:
            check_name(name)
        except SpecError as error:
            raise ApiError(400, "invalid_service", str(error)) from error
        state = self.services.get(name)
        if state is None:
            raise not_found(name)
        return state

    def _changed(self, state: ServiceState) -> None:
        """Tell readers (an event) and the inspect DB (a row), each only if it changed."""
        described = self.describe(state)
        if described != state.last_described:
            state.last_described = described
            self.events.append(protocol.EVENT_SERVICE_CHANGED, described)
        spec = state.spec
        row = {
            "id": spec.name,
            "name": spec.name,
            "type": spec.type,
            "port": spec.port,
            "schedule": spec.schedule,
            "status": INSPECT_STATUSES[state.status],
            "description": spec.description or spec.command[:200],
        }
        if row != state.last_row:
            state.last_row = row
            self.mirror.put(spec.name, row)

    def _save(self) -> None:
        registry = {name: state.registered for name, state in self.services.items()}
        try:
            save_registry(paths.registry_path(self.config), registry)
        except OSError:
            logger.exception("saving the services failed")


async def _sleep_until(moment: datetime) -> None:
    while (remaining := (moment - utc_now()).total_seconds()) > 0:  # noqa: ASYNC110 (a clock, not a flag)
        await asyncio.sleep(min(remaining, SCHEDULE_SLICE))
