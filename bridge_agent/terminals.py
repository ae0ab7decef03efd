"""Interactive shells in a PTY: the workspace's terminal panel (``protocol.TERMINALS_PATH``).

The bridge runs inside the Sprite's sandbox on every backend, so a shell it starts is as
confined as the agent: same user, same network namespace, same home, and the same
environment an exec gets (the project's newest secrets, ``starter-service`` on PATH). Each
shell is the leader of its own session and process group, with the PTY as its controlling
terminal, so Ctrl-C, job control and full-screen programs behave as on a real machine.

A terminal outlives its readers: a browser that reloads reattaches and gets the recent
output again (a ring buffer of ``TERMINAL_BUFFER_BYTES``). Every reader has a bounded queue;
one that falls too far behind is dropped rather than buffered without limit. Input waiting
for a shell that does not read is bounded too. A shell that exits tells its readers and is
forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import logging
import os
import re
import secrets
import signal
import struct
import termios
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge_agent.protocol import (
    MAX_TERMINAL_COLS,
    MAX_TERMINAL_ROWS,
    MAX_TERMINALS,
    MIN_TERMINAL_SIZE,
    TERMINAL_BUFFER_BYTES,
    TERMINAL_ID_PATTERN,
)

logger = logging.getLogger("bridge_agent.terminals")

READ_CHUNK = 65536
# What one reader may have queued and not yet sent before it is dropped.
MAX_READER_BACKLOG_BYTES = 1024 * 1024
# Input the shell has not read yet; more is dropped (a paste into a program that never reads).
MAX_PENDING_INPUT_BYTES = 1024 * 1024
DEFAULT_COLS = 80
DEFAULT_ROWS = 24
# How long a shell gets after SIGHUP before its group is killed.
HANGUP_GRACE_SECONDS = 1.0
# After the shell exits, how long its last output may take to arrive before the end.
EXIT_DRAIN_SECONDS = 0.2
_ID = re.compile(TERMINAL_ID_PATTERN)


class TerminalError(Exception):
    """A terminal request that cannot be served; ``code`` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def valid_terminal_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def checked_size(cols: object, rows: object) -> tuple[int, int]:
    """``(cols, rows)`` as integers in range; ``ValueError`` saying why not."""
    for name, value, limit in (
        ("cols", cols, MAX_TERMINAL_COLS),
        ("rows", rows, MAX_TERMINAL_ROWS),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"'{name}' must be an integer")
        if not MIN_TERMINAL_SIZE <= value <= limit:
            raise ValueError(f"'{name}' must be from {MIN_TERMINAL_SIZE} to {limit}")
    assert isinstance(cols, int) and isinstance(rows, int)
    return cols, rows


class RingBuffer:
    """The newest ``limit`` bytes written."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def write(self, data: bytes) -> None:
        if len(data) >= self.limit:
            self._chunks.clear()
            data = data[-self.limit :]
            self._size = 0
        self._chunks.append(data)
        self._size += len(data)
        while self._size > self.limit:
            oldest = self._chunks.popleft()
            excess = self._size - self.limit
            if len(oldest) > excess:
                self._chunks.appendleft(oldest[excess:])
                self._size -= excess
            else:
                self._size -= len(oldest)

    def contents(self) -> bytes:
        return b"".join(self._chunks)

    def __len__(self) -> int:
        return self._size


@dataclass(eq=False)
class Reader:
    """One attached socket: output queued for it, and whether it was dropped."""

    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    backlog: int = 0
    dropped: bool = False

    def offer(self, data: bytes | None) -> None:
        if self.dropped:
            return
        if data is not None:
            if self.backlog + len(data) > MAX_READER_BACKLOG_BYTES:
                # Too far behind: end this reader (it reattaches and replays the buffer).
                self.dropped = True
                self.queue.put_nowait(None)
                return
            self.backlog += len(data)
        self.queue.put_nowait(data)

    async def next(self) -> bytes | None:
        """The next output, or ``None`` when the shell ended or this reader was dropped."""
        data = await self.queue.get()
        if data is not None:
            self.backlog -= len(data)
        return data


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _new_session_on(tty_name: str) -> Callable[[], None]:
    """What the child runs before exec: a new session whose controlling terminal is the PTY.

    Not ``start_new_session``: uvloop runs preexec_fn before its setsid and before the
    PTY becomes the child's stdin, so the session is made here and the terminal opened by
    name (a session leader that opens a terminal without O_NOCTTY gets it as its own)."""

    def run() -> None:
        os.setsid()
        os.close(os.open(tty_name, os.O_RDWR))

    return run


class Terminal:
    """One shell in a PTY, its recent output, and the readers attached to it."""

    def __init__(self, terminal_id: str, cols: int, rows: int) -> None:
        self.id = terminal_id
        self.cols = cols
        self.rows = rows
        self.created_at = datetime.datetime.now(datetime.UTC)
        self.buffer = RingBuffer(TERMINAL_BUFFER_BYTES)
        self.readers: set[Reader] = set()
        self.exit_code: int | None = None
        self.exited = asyncio.Event()
        self.process: asyncio.subprocess.Process | None = None
        self._master = -1
        self._pending_input = bytearray()
        self._writing = False
        self._on_exit: Callable[[Terminal], None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(
        self,
        argv: list[str],
        *,
        cwd: Path,
        environment: Mapping[str, str],
        on_exit: Callable[[Terminal], None],
    ) -> None:
        master, slave = os.openpty()
        try:
            _set_size(slave, self.cols, self.rows)
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=dict(environment),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                preexec_fn=_new_session_on(os.ttyname(slave)),
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self._on_exit = on_exit
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._readable)
        self._watcher = loop.create_task(self._watch_exit())

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "cols": self.cols,
            "rows": self.rows,
            "pid": self.process.pid if self.process is not None else None,
        }

    # -- output --------------------------------------------------------------------------------

    def _readable(self) -> None:
        if self._master < 0 or self._reaper is not None:
            return
        try:
            data = os.read(self._master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            # EIO: every process holding the PTY's other end has gone.
            data = b""
        if not data:
            self._closed()
            return
        self.buffer.write(data)
        for reader in list(self.readers):
            reader.offer(data)
            if reader.dropped:
                self.readers.discard(reader)

    async def _watch_exit(self) -> None:
        """The shell ended while something it left in the background still holds the PTY
        (so no end of file comes): the terminal ends with its shell all the same."""
        assert self.process is not None
        await self.process.wait()
        await asyncio.sleep(EXIT_DRAIN_SECONDS)  # its last output is read first
        if self._master >= 0 and self._reaper is None:
            self._readable()  # anything still buffered
            if self._reaper is None:
                self._closed()

    def _closed(self) -> None:
        if self._reaper is not None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        if self._writing:
            loop.remove_writer(self._master)
            self._writing = False
        self._reaper = loop.create_task(self._reap())

    async def _reap(self) -> None:
        process = self.process
        if process is not None:
            self._signal_group(signal.SIGHUP)
            try:
                self.exit_code = await asyncio.wait_for(process.wait(), HANGUP_GRACE_SECONDS)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
                self.exit_code = await process.wait()
        with contextlib.suppress(OSError):
            os.close(self._master)
        self._master = -1
        self.exited.set()
        for reader in list(self.readers):
            reader.offer(None)
        self.readers.clear()
        if self._on_exit is not None:
            self._on_exit(self)

    def attach(self) -> tuple[Reader, bytes]:
        """A new reader and the recent output it starts from (nothing is lost in between:
        both are taken in the same turn of the loop)."""
        reader = Reader()
        if self.exited.is_set():
            reader.offer(None)
        else:
            self.readers.add(reader)
        return reader, self.buffer.contents()

    def detach(self, reader: Reader) -> None:
        self.readers.discard(reader)

    # -- input ---------------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Send ``data`` to the shell; False when it was dropped (the shell has not read
        ``MAX_PENDING_INPUT_BYTES`` already, or it ended)."""
        if self._master < 0 or self.exited.is_set():
            return False
        if len(self._pending_input) + len(data) > MAX_PENDING_INPUT_BYTES:
            return False
        self._pending_input += data
        self._flush()
        return True

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending_input:
            try:
                written = os.write(self._master, self._pending_input)
            except BlockingIOError:
                break
            except OSError:
                self._pending_input.clear()
                break
            del self._pending_input[:written]
        if self._pending_input and not self._writing:
            loop.add_writer(self._master, self._flush)
            self._writing = True
        elif not self._pending_input and self._writing:
            loop.remove_writer(self._master)
            self._writing = False

    def resize(self, cols: int, rows: int) -> None:
        if self._master < 0:
            return
        self.cols, self.rows = cols, rows
        # The kernel sends SIGWINCH to the PTY's foreground process group.
        _set_size(self._master, cols, rows)

    # -- ending --------------------------------------------------------------------------------

    def _signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def close(self) -> None:
        """End the shell (SIGHUP, as when a terminal window closes; then SIGKILL)."""
        if self.exited.is_set():
            return
        self._signal_group(signal.SIGHUP)
        try:
            await asyncio.wait_for(self.exited.wait(), HANGUP_GRACE_SECONDS * 2)
        except TimeoutError:
            self._signal_group(signal.SIGKILL)
            await asyncio.wait_for(self.exited.wait(), HANGUP_GRACE_SECONDS * 2)


def shell_argv(environment: Mapping[str, str]) -> list[str]:
    """A login shell: the user's own when it exists, else bash."""
    shell = environment.get("SHELL", "")
    if shell and os.path.isabs(shell) and os.access(shell, os.X_OK):
        return [shell, "-l"]
    return ["bash", "-l"]


class TerminalManager:
    """The Sprite's open terminals (at most ``MAX_TERMINALS``)."""

    def __init__(self, home: Path, environment: Callable[[], Mapping[str, str]]) -> None:
        self.home = home
        self._environment = environment
        self.terminals: dict[str, Terminal] = {}
        self._lock = asyncio.Lock()

    async def create(self, cols: int = DEFAULT_COLS, rows: int = DEFAULT_ROWS) -> Terminal:
        async with self._lock:
            if len(self.terminals) >= MAX_TERMINALS:
                raise TerminalError(
                    "too_many_terminals",
                    f"At most {MAX_TERMINALS} terminals at once; close one first.",
                )
            terminal = Terminal(secrets.token_hex(8), cols, rows)
            environment = dict(self._environment())
            # A terminal that draws colours; the rest is the same environment an exec gets.
            environment["TERM"] = "xterm-256color"
            environment["COLORTERM"] = "truecolor"
            await terminal.start(
                shell_argv(environment), cwd=self.home, environment=environment, on_exit=self._ended
            )
            self.terminals[terminal.id] = terminal
            logger.info("terminal %s started", terminal.id)
            return terminal

    def _ended(self, terminal: Terminal) -> None:
        logger.info("terminal %s ended with %s", terminal.id, terminal.exit_code)
        if self.terminals.get(terminal.id) is terminal:
            del self.terminals[terminal.id]

    def get(self, terminal_id: str) -> Terminal | None:
        if not valid_terminal_id(terminal_id):
            return None
        return self.terminals.get(terminal_id)

    def list(self) -> list[dict[str, Any]]:
        ordered = sorted(self.terminals.values(), key=lambda terminal: terminal.created_at)
        return [terminal.describe() for terminal in ordered]

    async def remove(self, terminal_id: str) -> bool:
        terminal = self.get(terminal_id)
        if terminal is None:
            return False
        await terminal.close()
        self.terminals.pop(terminal_id, None)
        return True

    async def close(self) -> None:
        terminals = list(self.terminals.values())
        await asyncio.gather(*(terminal.close() for terminal in terminals), return_exceptions=True)
        self.terminals.clear()
