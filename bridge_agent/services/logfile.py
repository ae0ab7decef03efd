"""Each service's own bounded log, ``~/.starter/services/NAME.log``, and its live readers.

The home belongs to the agent, which may plant a symlink where a log should be. So the
directory is opened without following a symlink, the file is opened relative to it with
``O_NOFOLLOW``, and a log path that is anything but a regular file is removed (the link,
never its target) and created again. A log that grows past ``MAX_LOG_BYTES`` is renamed to
``NAME.log.1`` (replacing the older one), so a service never holds more than twice that.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import time
from collections import deque
from pathlib import Path

logger = logging.getLogger("bridge_agent.services")

MAX_LOG_BYTES = 1024 * 1024
MAX_LINE_CHARS = 4000
MAX_TAIL_LINES = 2000
# How often a writer checks that its file is still the one at its path (deleted, replaced).
IDENTITY_CHECK_SECONDS = 1.0
FOLLOWER_BACKLOG = 2000
_TAIL_READ_BYTES = 512 * 1024
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def log_name(service: str) -> str:
    return f"{service}.log"


def open_directory(directory: Path) -> int:
    """A descriptor of ``directory``, made a real directory if a symlink or file sits there."""
    for _ in range(3):
        try:
            return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            directory.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=0o755)
        except OSError as error:
            if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            directory.unlink()  # a symlink or a file, never followed
    raise OSError(f"{directory} cannot be made a directory")


class LogFollower:
    """The lines written after it began; ``ended`` once it fell too far behind or the log closed."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque()
        self.ended = False
        self._changed = asyncio.Event()

    def push(self, line: str) -> None:
        if self.ended:
            return
        if len(self.lines) >= FOLLOWER_BACKLOG:
            self.end()
            return
        self.lines.append(line)
        self._changed.set()

    def end(self) -> None:
        self.ended = True
        self._changed.set()

    async def next_lines(self) -> list[str] | None:
        """The lines waiting (after waiting for one); None when the follower ended."""
        while not self.lines and not self.ended:
            self._changed.clear()
            await self._changed.wait()
        if self.ended:
            return None
        taken = list(self.lines)
        self.lines.clear()
        return taken


class ServiceLog:
    """Appends a service's output to its log file. Runs on the event loop thread."""

    def __init__(self, directory: Path, service: str, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.directory = directory
        self.name = log_name(service)
        self.max_bytes = max_bytes
        self._descriptor: int | None = None
        self._identity: tuple[int, int] | None = None
        self._size = 0
        self._checked_at = 0.0
        self._partial = b""
        self.followers: set[LogFollower] = set()

    def write(self, data: bytes) -> None:
        if not data:
            return
        try:
            self._write_file(data)
        except OSError:
            logger.exception("writing the log of %s failed", self.name)
            self._close_file()
        if self.followers:
            self._feed_followers(data)

    def note(self, text: str) -> None:
        """A line from the supervisor itself (a start, an exit, a restart)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.write(f"[starter {stamp}] {text}\n".encode())

    def follow(self) -> LogFollower:
        follower = LogFollower()
        self.followers.add(follower)
        return follower

    def unfollow(self, follower: LogFollower) -> None:
        self.followers.discard(follower)

    def close(self) -> None:
        self._close_file()
        for follower in list(self.followers):
            follower.end()
        self.followers.clear()

    def _write_file(self, data: bytes) -> None:
        now = time.monotonic()
        if self._descriptor is not None and now - self._checked_at > IDENTITY_CHECK_SECONDS:
            self._checked_at = now
            if not self._still_at_path():
                self._close_file()
        if self._descriptor is not None and self._size + len(data) > self.max_bytes:
            self._rotate()
        if self._descriptor is None:
            self._open()
        assert self._descriptor is not None
        if len(data) > self.max_bytes:
            data = data[-self.max_bytes :]
        view = memoryview(data)
        while view:
            written = os.write(self._descriptor, view)
            view = view[written:]
            self._size += written

    def _open(self) -> None:
        directory = open_directory(self.directory)
        try:
            descriptor = self._open_in(directory)
            info = os.fstat(descriptor)
        finally:
            os.close(directory)
        self._descriptor = descriptor
        self._identity = (info.st_dev, info.st_ino)
        self._size = info.st_size
        self._checked_at = time.monotonic()

    def _open_in(self, directory: int) -> int:
        try:
            descriptor = os.open(self.name, _OPEN_FLAGS | os.O_CREAT, 0o644, dir_fd=directory)
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            # A symlink where the log should be: remove the link, write a file of our own.
            os.unlink(self.name, dir_fd=directory)
            descriptor = os.open(
                self.name, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=directory
            )
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # a FIFO, a device: never write there
            os.close(descriptor)
            raise OSError(errno.EINVAL, f"{self.name} is not a regular file")
        return descriptor

    def _still_at_path(self) -> bool:
        try:
            info = os.lstat(self.directory / self.name)
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) == self._identity

    def _rotate(self) -> None:
        self._close_file()
        directory = open_directory(self.directory)
        try:
            os.rename(self.name, f"{self.name}.1", src_dir_fd=directory, dst_dir_fd=directory)
        except OSError:
            # ``.1`` is a directory, or the log vanished: start the log over instead.
            with contextlib.suppress(OSError):
                descriptor = self._open_in(directory)
                os.ftruncate(descriptor, 0)
                os.close(descriptor)
        finally:
            os.close(directory)

    def _close_file(self) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self._descriptor)
            self._descriptor = None
            self._identity = None

    def _feed_followers(self, data: bytes) -> None:
        pieces = (self._partial + data).split(b"\n")
        self._partial = pieces.pop()
        if len(self._partial) > MAX_LINE_CHARS:
            pieces.append(self._partial)
            self._partial = b""
        for piece in pieces:
            line = clean_line(piece)
            for follower in list(self.followers):
                follower.push(line)


def clean_line(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")[:MAX_LINE_CHARS]


def read_tail(directory: Path, service: str, lines: int) -> list[str]:
    """The last ``lines`` lines of a service's log (reaching into ``NAME.log.1`` if needed)."""
    name = log_name(service)
    collected: list[str] = []
    try:
        directory_fd = os.open(
            directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
    except OSError:
        return []
    try:
        for file_name in (name, f"{name}.1"):
            chunk = _read_end(directory_fd, file_name)
            if chunk is None:
                continue
            found = chunk.split(b"\n")
            if found and found[-1] == b"":
                found.pop()
            collected = [clean_line(piece) for piece in found] + collected
            if len(collected) >= lines:
                break
    finally:
        os.close(directory_fd)
    return collected[-lines:] if lines > 0 else []


def _read_end(directory_fd: int, file_name: str) -> bytes | None:
    try:
        descriptor = os.open(file_name, _READ_FLAGS, dir_fd=directory_fd)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return None
        start = max(0, info.st_size - _TAIL_READ_BYTES)
        data = os.pread(descriptor, _TAIL_READ_BYTES, start)
        if start > 0:  # the first line is cut: drop it
            data = data.partition(b"\n")[2]
        return data
    finally:
        os.close(descriptor)
