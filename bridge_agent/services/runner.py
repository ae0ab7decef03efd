"""How a service's process is run: the seam between the supervisor and where processes live.

The supervisor decides *when* (start, restart after a crash, stop); a ``ServiceRunner`` decides
*how*. ``LocalRunner`` runs a child of the bridge: ``bash -c COMMAND`` in a process group of
its own, output piped to a callback, the whole group ended on stop (so a child that forked
and left is ended too). A backend that runs long-running services elsewhere (Sprite services
on ``fly``) provides another runner with the same two calls; cron runs always stay local.

The local runner records the process groups it started in a file of the home, so a bridge
that was killed without a chance to clean up (SIGKILL, the OOM killer) ends the groups it
left behind when it starts again, before it starts their replacements (which would find
their ports taken).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

logger = logging.getLogger("bridge_agent.services")

STOP_GRACE_SECONDS = 5.0
# Output still read after the process group ended (a child that left the group keeps the pipe).
DRAIN_SECONDS = 0.5
_POLL_SECONDS = 0.05

OutputCallback = Callable[[bytes], None]


class ServiceProcess(Protocol):
    @property
    def pid(self) -> int | None: ...

    async def wait(self) -> int:
        """The exit status once it ended by itself (negative: killed by that signal)."""
        ...

    async def stop(self) -> int:
        """End it (SIGTERM, a grace period, SIGKILL) and return its exit status."""
        ...


class ServiceRunner(Protocol):
    async def start(
        self,
        name: str,
        command: str,
        cwd: Path,
        environment: dict[str, str],
        on_output: OutputCallback,
    ) -> ServiceProcess: ...


class LocalProcess:
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        on_output: OutputCallback,
        groups: GroupRecord,
        name: str,
        grace: float,
    ) -> None:
        self._process = process
        self._groups = groups
        self._name = name
        self._grace = grace
        assert process.stdout is not None
        self._pump = asyncio.create_task(_pump(process.stdout, on_output), name=f"service-{name}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process.returncode is None else None

    async def wait(self) -> int:
        try:
            code = await self._process.wait()
        finally:
            await self._finish()
        return code

    async def stop(self) -> int:
        if self._process.returncode is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), self._grace)
            except TimeoutError:
                _signal_group(self._process.pid, signal.SIGKILL)
                await self._process.wait()
        await self._finish()
        assert self._process.returncode is not None
        return self._process.returncode

    async def _finish(self) -> None:
        """The main process ended: end what is left of its group, then the output pump."""
        try:
            await end_group(self._process.pid, self._grace)
        finally:
            self._groups.forget(self._name, self._process.pid)
            try:
                await asyncio.wait_for(asyncio.shield(self._pump), DRAIN_SECONDS)
            except TimeoutError:
                self._pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pump


class LocalRunner:
    """Runs services as children of the bridge (see the module's docstring)."""

    def __init__(self, groups: GroupRecord, grace: float = STOP_GRACE_SECONDS) -> None:
        self.groups = groups
        self.grace = grace

    async def start(
        self,
        name: str,
        command: str,
        cwd: Path,
        environment: dict[str, str],
        on_output: OutputCallback,
    ) -> LocalProcess:
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            command,
            cwd=cwd,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self.groups.remember(name, process.pid)
        return LocalProcess(process, on_output, self.groups, name, self.grace)


async def _pump(stream: asyncio.StreamReader, on_output: OutputCallback) -> None:
    while chunk := await stream.read(65536):
        try:
            on_output(chunk)
        except Exception:
            logger.exception("handling a service's output failed")


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal a whole process group; False when it has no process left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


async def end_group(pgid: int, grace: float) -> None:
    """SIGTERM what is left of a process group, SIGKILL it after ``grace``."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_has_live_members(pgid):
            return
        await asyncio.sleep(_POLL_SECONDS)
    _signal_group(pgid, signal.SIGKILL)


def _group_has_live_members(pgid: int) -> bool:
    # kill(-pgid, 0) also succeeds for zombies waiting for their reaper, so /proc decides.
    return any(group == pgid and state != "Z" for state, group, _ in _processes().values())


def _processes() -> dict[int, tuple[str, int, int]]:
    """pid → (state, process group, start time in clock ticks) of every visible process."""
    found: dict[int, tuple[str, int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        info = _stat_of(int(entry.name))
        if info is not None:
            found[int(entry.name)] = info
    return found


def _stat_of(pid: int) -> tuple[str, int, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


class GroupRecord:
    """The process groups this bridge's services run in, kept in a file of the home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._groups: dict[str, list[int]] = {}

    def remember(self, name: str, pgid: int) -> None:
        info = _stat_of(pgid)
        self._groups[f"{name}:{pgid}"] = [pgid, info[2] if info else 0]
        self._save()

    def forget(self, name: str, pgid: int) -> None:
        if self._groups.pop(f"{name}:{pgid}", None) is not None:
            self._save()

    def end_leftovers(self) -> int:
        """SIGKILL the groups a previous bridge left running; how many were found."""
        try:
            recorded = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return 0
        if not isinstance(recorded, dict):
            return 0
        processes = _processes()
        ended = 0
        for value in recorded.values():
            if not (
                isinstance(value, list)
                and len(value) == 2
                and all(isinstance(v, int) for v in value)
            ):
                continue
            pgid, started = value
            # The leader is ours if it started when recorded; if it is gone, only members
            # that started after it can be its group's (a reused number starts later still,
            # but a group's number is not reused while any member lives).
            members = [
                pid
                for pid, (state, group, start) in processes.items()
                if group == pgid and state != "Z" and start >= started and pid != os.getpid()
            ]
            leader = processes.get(pgid)
            if leader is not None and leader[2] != started:
                continue
            for pid in members:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            ended += bool(members)
        self._save()
        return ended

    def _save(self) -> None:
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.unlink(missing_ok=True)
            temporary.write_text(json.dumps(self._groups))
            os.replace(temporary, self.path)
