"""File operations in a tenant's home that cannot be steered outside it.

The control plane reads and writes a local Sprite's files from outside the sandbox, while
the Sprite may be swapping directories for symbolic links at that very moment. Checking a
path and then opening it is a race it can win. Here every path is resolved by the kernel
from a handle on the home with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)``: a
symlink or ``..`` that would leave the home fails the open itself, atomically.

And every operation runs with the thread's filesystem uid and gid set to the Sprite's
(``setfsuid``/``setfsgid`` act on the calling thread only): the kernel checks permissions
as the Sprite, so even a mistake here reaches nothing the Sprite could not, and new files
belong to the Sprite.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sprites.backends.base import SpriteError

T = TypeVar("T")

_SYS_OPENAT2 = 437  # the same number on every architecture that has it
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.setfsuid.restype = ctypes.c_int
_libc.setfsgid.restype = ctypes.c_int


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int
    modified_at: datetime
    is_symlink: bool = False
    link_target: str = ""


def openat2(directory: int, path: str, flags: int, mode: int = 0) -> int:
    """``openat2`` with RESOLVE_BENEATH: ``path`` may never leave ``directory``."""
    how = struct.pack("=QQQ", flags | os.O_CLOEXEC, mode, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    encoded = os.fsencode(path)
    descriptor = _libc.syscall(_SYS_OPENAT2, directory, encoded, how, len(how))
    if descriptor < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), path)
    return int(descriptor)


@contextlib.contextmanager
def acting_as(uid: int | None, gid: int | None) -> Iterator[None]:
    """Filesystem checks as ``uid``/``gid`` in this thread (no change when ``None``)."""
    if uid is None or gid is None or os.geteuid() != 0:
        yield
        return
    previous_gid = _libc.setfsgid(gid)
    previous_uid = _libc.setfsuid(uid)
    try:
        yield
    finally:
        _libc.setfsuid(previous_uid)
        _libc.setfsgid(previous_gid)


def _problem(error: OSError, path: str) -> SpriteError:
    if error.errno == errno.EXDEV:
        return SpriteError(
            f"Path {path!r} leads outside the Sprite's home (through a link).",
            path_problem="refused",
        )
    if error.errno == errno.ENOENT:
        return SpriteError(
            f"No file or directory {path!r} in the Sprite's home.", path_problem="missing"
        )
    if error.errno == errno.EISDIR:
        return SpriteError(f"{path!r} is a directory, not a file.", path_problem="refused")
    if error.errno == errno.ENOTDIR:
        return SpriteError(f"A part of {path!r} is not a directory.", path_problem="refused")
    if error.errno in (errno.EACCES, errno.EPERM):
        return SpriteError(f"The Sprite may not access {path!r} (permission denied).")
    if error.errno == errno.ELOOP:
        return SpriteError(
            f"{path!r} is a symbolic link; give the path it points to.", path_problem="refused"
        )
    return SpriteError(f"Could not use {path!r}: {error.strerror}.")


class Home:
    """One Sprite's home, opened once; every path is relative to it."""

    def __init__(self, home: Path, uid: int | None = None, gid: int | None = None) -> None:
        self.home = home
        self.uid = uid
        self.gid = gid

    def _run(self, path: str, operation: Callable[[int], T]) -> T:
        with acting_as(self.uid, self.gid):
            try:
                root = os.open(self.home, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as error:
                raise SpriteError(f"The Sprite's home is missing ({error.strerror}).") from None
            try:
                return operation(root)
            except OSError as error:
                raise _problem(error, path) from None
            finally:
                os.close(root)

    def read(self, path: str, limit: int | None = None) -> bytes:
        def read(root: int) -> bytes:
            descriptor = openat2(root, path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
            with os.fdopen(descriptor, "rb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    if stat.S_ISDIR(os.fstat(file.fileno()).st_mode):
                        raise OSError(errno.EISDIR, "Is a directory")
                    raise SpriteError(f"{path!r} is not a regular file.", path_problem="refused")
                return file.read() if limit is None else file.read(limit)

        return self._run(path, read)

    def write(self, path: str, data: bytes) -> None:
        parent, _, name = path.rstrip("/").rpartition("/")
        if not name or name in (".", ".."):
            raise SpriteError("Give a file path, not a directory.", path_problem="refused")

        def write(root: int) -> None:
            directory = self._directory(root, parent, create=True)
            try:
                # O_NOFOLLOW on the last part: a symlink there is refused, not followed.
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NOCTTY
                descriptor = os.open(
                    name, flags | os.O_CLOEXEC | os.O_NONBLOCK, 0o644, dir_fd=directory
                )
            finally:
                os.close(directory)
            with os.fdopen(descriptor, "wb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    raise SpriteError(f"{path!r} is not a regular file.", path_problem="refused")
                file.write(data)

        self._run(path, write)

    def list(self, path: str) -> list[Entry]:
        def list_entries(root: int) -> list[Entry]:
            directory = self._directory(root, path, create=False)
            try:
                entries = []
                for name in sorted(os.listdir(directory)):
                    try:
                        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed while listing
                    target = ""
                    if stat.S_ISLNK(info.st_mode):
                        with contextlib.suppress(OSError):
                            target = os.fsdecode(os.readlink(name, dir_fd=directory))
                    entries.append(
                        Entry(
                            name=name,
                            is_dir=stat.S_ISDIR(info.st_mode),
                            size=info.st_size,
                            modified_at=datetime.fromtimestamp(info.st_mtime, UTC),
                            is_symlink=stat.S_ISLNK(info.st_mode),
                            link_target=target,
                        )
                    )
                return entries
            finally:
                os.close(directory)

        return self._run(path, list_entries)

    def is_dir(self, path: str) -> bool:
        def check(root: int) -> bool:
            try:
                os.close(self._directory(root, path, create=False))
            except OSError as error:
                if error.errno in (errno.ENOTDIR, errno.ENOENT):
                    return False
                raise
            return True

        return self._run(path, check)

    @staticmethod
    def _directory(root: int, path: str, *, create: bool) -> int:
        """A descriptor of the directory ``path`` (``""`` or ``.`` is the home itself),
        created part by part when ``create``; each part opened beneath the one before."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise SpriteError(
                "Paths inside the Sprite's home cannot contain '..'.", path_problem="refused"
            )
        try:
            # In one go, so a link to another directory of the home is followed.
            return openat2(root, "/".join(parts) or ".", os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if not create:
                raise
        current = os.dup(root)
        try:
            for part in parts:
                try:
                    following = openat2(current, part, os.O_RDONLY | os.O_DIRECTORY)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=current)
                    following = openat2(current, part, os.O_RDONLY | os.O_DIRECTORY)
                os.close(current)
                current = following
            return current
        except BaseException:
            os.close(current)
            raise
