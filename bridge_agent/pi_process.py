"""One ``pi --mode rpc`` child process: launch, request/response by id, events, reaping.

Framing follows pi's RPC contract: stdout is JSON lines split on ``\\n`` only (a trailing
``\\r`` is stripped). Lines can be megabytes long (a ``get_messages`` answer, a big tool
result), so stdout is read as raw chunks instead of asyncio's 64 KiB-limited ``readline``.
Responses may arrive out of order and are matched to requests by ``id``.

The ``PiProcess`` owns its child and its reader tasks: ``stop()`` closes stdin (pi exits on
EOF and kills the tools it started), waits, escalates to SIGTERM/SIGKILL, and awaits the
readers. An exit nobody asked for is reported through ``on_exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge_agent.concurrency import watched_task
from bridge_agent.config import MINIMUM_NODE
from bridge_agent.pi_events import DIALOG_UI_METHODS

logger = logging.getLogger("bridge_agent.pi")

READ_CHUNK = 1 << 16
START_TIMEOUT = 60.0
DEFAULT_COMMAND_TIMEOUT = 30.0
# Writing to a pi that has just died: asyncio raises BrokenPipeError/ConnectionResetError,
# uvloop a RuntimeError ("unable to perform operation on <WriteUnixTransport closed=True>").
CLOSED_PIPE_ERRORS = (BrokenPipeError, ConnectionResetError, RuntimeError)
READERS_DRAIN_SECONDS = 1.0


class PiError(Exception):
    """pi answered a command with ``success: false``."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command
        self.message = message


class PiExited(Exception):
    """The pi process is gone (crashed, stopped, or never started)."""


@dataclass(frozen=True)
class PiLaunch:
    """Everything needed to start pi for one session."""

    binary: str
    home: Path
    agent_dir: Path
    session_dir: Path
    extension: Path
    extra_extensions: tuple[Path, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    session_file: Path | None = None
    # The Node that runs pi (see config.NODE_BIN_ENV); None leaves it to pi's shebang.
    node: str | None = None
    compile_cache: Path | None = None

    def argv(self) -> list[str]:
        runner = [self.node, self.binary] if self.node else [self.binary]
        args = [
            *runner,
            "--mode",
            "rpc",
            "--session-dir",
            str(self.session_dir),
            "--no-extensions",
            "-e",
            str(self.extension),
        ]
        for extra in self.extra_extensions:
            args += ["-e", str(extra)]
        if self.session_file is not None:
            args += ["--session", str(self.session_file)]
        return args

    def environment(self) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            {
                "PI_CODING_AGENT_DIR": str(self.agent_dir),
                "PI_OFFLINE": "1",
                "PI_SKIP_VERSION_CHECK": "1",
                "PI_TELEMETRY": "0",
            }
        )
        if self.node:
            # The agent's own `node` (and npm's shebang) is the same Node as pi's.
            node_dir = str(Path(self.node).resolve().parent)
            env["PATH"] = os.pathsep.join([node_dir, env.get("PATH", os.defpath)])
        if self.compile_cache is not None:
            # Node's compile cache in the home: pi starts ~0.3 s faster once it is warm.
            env["NODE_COMPILE_CACHE"] = str(self.compile_cache)
        return env


def node_problem(launch: PiLaunch) -> str | None:
    """Why the Node that runs pi cannot run pi 1.x, or None. Asked only after pi failed to
    start: pi on Node < 22.19 dies with a SyntaxError that names neither Node nor a version."""
    node = launch.node or shutil.which("node", path=launch.env.get("PATH")) or "node"
    try:
        answer = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"Node ({node}) does not run: {error}"
    match = re.match(r"v(\d+)\.(\d+)", answer)
    if match is None:
        return f"Node ({node}) answered {answer!r} to --version"
    if (int(match[1]), int(match[2])) < MINIMUM_NODE:
        wanted = ".".join(map(str, MINIMUM_NODE))
        return f"pi needs Node {wanted} or newer; {node} is {answer}"
    return None


EventHandler = Callable[["PiProcess", dict[str, Any]], None]
ExitHandler = Callable[["PiProcess", int | None], None]


class PiProcess:
    def __init__(self, launch: PiLaunch, on_event: EventHandler, on_exit: ExitHandler) -> None:
        self.launch = launch
        self._on_event = on_event
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._exited = asyncio.Event()
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.returncode: int | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        return self._process is not None and not self._exited.is_set()

    async def start(self, ready_within: float = START_TIMEOUT) -> dict[str, Any]:
        """Spawn pi and wait until it answers ``get_state`` (pi prints nothing when ready)."""
        self._process = await asyncio.create_subprocess_exec(
            *self.launch.argv(),
            cwd=self.launch.home,
            env=self.launch.environment(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._tasks = [
            watched_task(
                self._read_stdout(), name=f"pi-stdout-{self.pid}", logger=logger, forever=False
            ),
            watched_task(
                self._read_stderr(), name=f"pi-stderr-{self.pid}", logger=logger, forever=False
            ),
        ]
        try:
            return await self.request({"type": "get_state"}, answer_within=ready_within)
        except BaseException:
            await self.stop()
            raise

    async def request(
        self, command: dict[str, Any], answer_within: float | None = DEFAULT_COMMAND_TIMEOUT
    ) -> dict[str, Any]:
        """Send a command and return the response's ``data`` (``{}`` when it has none)."""
        if self._process is None or self._process.stdin is None or self._exited.is_set():
            raise PiExited("pi is not running")
        request_id = f"b{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({**command, "id": request_id}, separators=(",", ":")) + "\n"
        try:
            try:
                self._process.stdin.write(line.encode())
                await self._process.stdin.drain()
            except CLOSED_PIPE_ERRORS as error:
                raise PiExited("pi closed its input") from error
            response = await asyncio.wait_for(future, answer_within)
        finally:
            self._pending.pop(request_id, None)
        if not response.get("success", False):
            raise PiError(str(command.get("type")), str(response.get("error") or "pi refused"))
        data = response.get("data")
        return data if isinstance(data, dict) else {"value": data} if data is not None else {}

    def send_nowait(self, message: dict[str, Any]) -> None:
        """Write a line that expects no response (an ``extension_ui_response``)."""
        if self._process is None or self._process.stdin is None or self._exited.is_set():
            return
        line = json.dumps(message, separators=(",", ":")) + "\n"
        with contextlib.suppress(*CLOSED_PIPE_ERRORS):
            self._process.stdin.write(line.encode())

    async def stop(self, grace: float = 5.0) -> None:
        """Close stdin so pi exits on EOF; escalate if it lingers; reap it and the readers."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                with contextlib.suppress(Exception):
                    process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 2.0)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
        # pi is gone: its pipes reach EOF unless a tool it started still holds them, so give
        # the readers a moment to take the last lines (a crash's message is on stderr).
        pending_readers = [task for task in self._tasks if not task.done()]
        if pending_readers:
            await asyncio.wait(pending_readers, timeout=READERS_DRAIN_SECONDS)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail_pending("pi was stopped")

    async def wait_exited(self) -> None:
        await self._exited.wait()

    # -- readers ---------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        buffer = bytearray()
        try:
            while True:
                chunk = await stdout.read(READ_CHUNK)
                if not chunk:
                    break
                scan_from = len(buffer)
                buffer += chunk
                start = 0
                newline = buffer.find(b"\n", scan_from)
                while newline != -1:
                    self._handle_line(bytes(buffer[start:newline]))
                    start = newline + 1
                    newline = buffer.find(b"\n", start)
                if start:
                    del buffer[:start]
            if buffer:
                self._handle_line(bytes(buffer))
        finally:
            await self._finish()

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        stderr = self._process.stderr
        while True:
            chunk = await stderr.read(READ_CHUNK)
            if not chunk:
                return
            for text in chunk.decode(errors="replace").splitlines():
                if text.strip():
                    self.stderr_tail.append(text[:500])
                    logger.debug("pi[%s] stderr: %s", self.pid, text[:500])

    def _handle_line(self, raw: bytes) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            return
        try:
            line = json.loads(raw)
        except ValueError:
            logger.warning("pi[%s] printed a non-JSON line: %.200r", self.pid, raw)
            return
        if not isinstance(line, dict):
            return
        if line.get("type") == "response":
            future = self._pending.get(str(line.get("id")))
            if future is not None and not future.done():
                future.set_result(line)
            elif "id" not in line:
                # pi answers unknown commands and unparsable lines without an id.
                logger.warning("pi[%s] uncorrelated response: %.300s", self.pid, raw)
            return
        if line.get("type") == "extension_ui_request" and line.get("method") in DIALOG_UI_METHODS:
            # Nobody can answer a terminal dialog here; cancel it rather than let pi wait forever.
            self.send_nowait(
                {"type": "extension_ui_response", "id": line.get("id"), "cancelled": True}
            )
        try:
            self._on_event(self, line)
        except Exception:
            logger.exception("pi event handler failed")

    async def _finish(self) -> None:
        process = self._process
        if process is not None:
            with contextlib.suppress(Exception):
                self.returncode = await process.wait()
        self._exited.set()
        self._fail_pending("pi exited")
        if not self._stopping:
            logger.warning(
                "pi[%s] exited unexpectedly with %s; stderr tail: %s",
                self.pid,
                self.returncode,
                " | ".join(self.stderr_tail),
            )
            self._on_exit(self, self.returncode)

    def _fail_pending(self, reason: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(PiExited(reason))
        self._pending.clear()
