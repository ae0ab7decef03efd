"""Streamed file operations in a tenant's home that never follow a symbolic link (issue 17).

``beneath.Home`` resolves paths beneath the home and lets a link that stays inside it be
followed (the agent's files API reads through them). A person's files panel must see a link
as a link instead, so everything here resolves with ``RESOLVE_NO_SYMLINKS`` as well: a link
in any part of a path fails the open (``ELOOP``), atomically, whatever the Sprite swaps
meanwhile. The last part is looked at with ``*at`` calls that do not follow it (lstat,
readlink, ``O_NOFOLLOW``, ``renameat2``, ``unlinkat``).

Permission checks run as the Sprite (``acting_as``): only the opening, renaming and
unlinking need it; reads and writes on a descriptor already open do not, so chunks may be
moved by any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import stat
import struct
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TypeVar

from sprites.backends.base import SpriteError
from sprites.backends.beneath import Home, _libc, _problem, acting_as

T = TypeVar("T")

_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RENAME_NOREPLACE = 1
_libc.renameat2.restype = ctypes.c_int
CHUNK_BYTES = 1024 * 1024
SKIPPED_NOTE = "_starter-skipped.txt"


def openat2_strict(directory: int, path: str, flags: int, mode: int = 0) -> int:
    """``openat2`` beneath ``directory`` with no symbolic link anywhere on the way."""
    resolve = _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_SYMLINKS
    how = struct.pack("=QQQ", flags | os.O_CLOEXEC, mode, resolve)
    descriptor = _libc.syscall(_SYS_OPENAT2, directory, os.fsencode(path), how, len(how))
    if descriptor < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), path)
    return int(descriptor)


@dataclass(frozen=True)
class Stat:
    name: str
    is_dir: bool
    is_link: bool
    size: int
    modified_at: datetime
    link_target: str = ""


def _split(path: str) -> tuple[str, str]:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SpriteError(
            "Paths inside the Sprite's home cannot contain '..'.", path_problem="refused"
        )
    if not parts:
        return ".", ""
    return "/".join(parts[:-1]) or ".", parts[-1]


def _entry(directory: int, name: str) -> Stat:
    info = os.stat(name or ".", dir_fd=directory, follow_symlinks=False)
    is_link = stat.S_ISLNK(info.st_mode)
    target = ""
    if is_link:
        target = os.fsdecode(os.readlink(name, dir_fd=directory))
    return Stat(
        name=name or ".",
        is_dir=stat.S_ISDIR(info.st_mode),
        is_link=is_link,
        size=info.st_size,
        modified_at=datetime.fromtimestamp(info.st_mtime, UTC),
        link_target=target,
    )


class StrictHome:
    """A ``beneath.Home`` seen without ever following a link."""

    def __init__(self, home: Home) -> None:
        self.home = home

    def run(self, path: str, operation: Callable[[int], T]) -> T:
        """``operation(root)`` as the Sprite, its OSErrors told as ``SpriteError``s."""
        return self.home._run(path, operation)

    def _parent(self, root: int, parent: str, *, create: bool = False) -> int:
        try:
            return openat2_strict(root, parent, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if not create:
                raise
        current = os.dup(root)
        try:
            for part in parent.split("/"):
                if part in ("", "."):
                    continue
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=current)
                following = openat2_strict(current, part, os.O_RDONLY | os.O_DIRECTORY)
                os.close(current)
                current = following
            return current
        except BaseException:
            os.close(current)
            raise

    def stat(self, path: str) -> Stat:
        parent, name = _split(path)

        def look(root: int) -> Stat:
            directory = self._parent(root, parent)
            try:
                return _entry(directory, name)
            finally:
                os.close(directory)

        return self.run(path, look)

    def list(self, path: str) -> list[Stat]:
        def list_entries(root: int) -> list[Stat]:
            directory = openat2_strict(root, path or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                entries = []
                for name in sorted(os.listdir(directory)):
                    with contextlib.suppress(FileNotFoundError):  # removed while listing
                        entries.append(_entry(directory, name))
                return entries
            finally:
                os.close(directory)

        return self.run(path, list_entries)

    def open_file(self, path: str) -> int:
        """A descriptor of the regular file at ``path`` for reading (the caller closes it)."""

        def open_(root: int) -> int:
            flags = os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_NOFOLLOW
            descriptor = openat2_strict(root, path, flags)
            mode = os.fstat(descriptor).st_mode
            if not stat.S_ISREG(mode):
                os.close(descriptor)
                if stat.S_ISDIR(mode):
                    raise OSError(errno.EISDIR, "Is a directory")
                raise SpriteError(f"{path!r} is not a regular file.", path_problem="refused")
            return descriptor

        return self.run(path, open_)

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        descriptor = self.open_file(path)
        try:
            return os.pread(descriptor, max(0, length), max(0, offset))
        finally:
            os.close(descriptor)

    # -- writing ------------------------------------------------------------------

    def begin_write(self, path: str) -> tuple[int, int, str, str]:
        """``(directory, descriptor, temporary name, final name)`` of a new temporary file
        beside ``path`` (parents created); ``finish_write`` moves it over ``path``."""
        parent, name = _split(path)
        if not name:
            raise SpriteError("Give a file path, not a directory.", path_problem="refused")

        def begin(root: int) -> tuple[int, int, str, str]:
            directory = self._parent(root, parent, create=True)
            temporary = f".{name[:180]}.upload-{secrets.token_hex(6)}"
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                descriptor = os.open(temporary, flags, 0o644, dir_fd=directory)
            except BaseException:
                os.close(directory)
                raise
            return directory, descriptor, temporary, name

        return self.run(path, begin)

    def finish_write(self, path: str, directory: int, temporary: str, name: str) -> Stat:
        def finish(_root: int) -> Stat:
            try:
                existing = os.stat(name, dir_fd=directory, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            if existing is not None and not stat.S_ISREG(existing.st_mode):
                # Never replace a link or a folder with a file: say so instead.
                raise SpriteError(
                    f"{path!r} is a {'link' if stat.S_ISLNK(existing.st_mode) else 'folder'};"
                    " it is not replaced by a file.",
                    path_problem="refused",
                )
            os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
            return _entry(directory, name)

        return self.run(path, finish)

    def abandon_write(self, directory: int, temporary: str) -> None:
        def abandon(_root: int) -> None:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=directory)

        with contextlib.suppress(SpriteError):
            self.run(temporary, abandon)

    # -- renaming and deleting ----------------------------------------------------------

    def rename(self, source: str, destination: str) -> None:
        source_parent, source_name = _split(source)
        target_parent, target_name = _split(destination)
        if not source_name or not target_name:
            raise SpriteError("The home itself cannot be renamed.", path_problem="refused")

        def move(root: int) -> None:
            source_directory = self._parent(root, source_parent)
            try:
                os.stat(source_name, dir_fd=source_directory, follow_symlinks=False)
                target_directory = self._parent(root, target_parent, create=True)
                try:
                    result = _libc.renameat2(
                        source_directory,
                        os.fsencode(source_name),
                        target_directory,
                        os.fsencode(target_name),
                        _RENAME_NOREPLACE,
                    )
                    if result != 0:
                        number = ctypes.get_errno()
                        if number == errno.EEXIST:
                            raise SpriteError(
                                f"{destination!r} already exists; it is not replaced.",
                                path_problem="refused",
                            )
                        if number == errno.EINVAL:
                            raise SpriteError(
                                "A folder cannot be moved into itself.", path_problem="refused"
                            )
                        raise OSError(number, os.strerror(number), destination)
                finally:
                    os.close(target_directory)
            finally:
                os.close(source_directory)

        self.run(source, move)

    def delete(self, path: str) -> None:
        parent, name = _split(path)
        if not name:
            raise SpriteError("The home itself cannot be deleted.", path_problem="refused")

        def remove(root: int) -> None:
            directory = self._parent(root, parent)
            try:
                info = os.stat(name, dir_fd=directory, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    # rmtree with dir_fd walks by descriptors and never follows a link.
                    shutil.rmtree(name, dir_fd=directory)
                else:
                    os.unlink(name, dir_fd=directory)
            finally:
                os.close(directory)

        self.run(path, remove)

    # -- archives -----------------------------------------------------------------------

    def write_archive(self, path: str, sink: IO[bytes], stop: threading.Event) -> None:
        """Write a zip of the folder ``path`` to ``sink`` (not seekable) as it is walked.

        Runs in one thread, as the Sprite, from start to end. Links are stored as links;
        entries that cannot be read are listed in a note file at the end instead."""
        skipped: list[str] = []
        with acting_as(self.home.uid, self.home.gid):
            try:
                root = os.open(self.home.home, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as error:
                raise SpriteError(f"The Sprite's home is missing ({error.strerror}).") from None
            try:
                try:
                    top = openat2_strict(root, path or ".", os.O_RDONLY | os.O_DIRECTORY)
                except OSError as error:
                    raise _problem(error, path) from None
                try:
                    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                        for relative, directories, files, directory in os.fwalk(
                            ".", dir_fd=top, follow_symlinks=False
                        ):
                            if stop.is_set():
                                return
                            prefix = "" if relative == "." else relative[2:] + "/"
                            if prefix:
                                zf.writestr(zipfile.ZipInfo(prefix), b"")
                            # fwalk lists a link to a folder among the folders (and
                            # does not descend into it): store it, as a link, here.
                            for name in [*files, *_links(directory, directories)]:
                                _add(zf, directory, name, prefix + name, skipped, stop)
                        if skipped:
                            zf.writestr(SKIPPED_NOTE, _note(skipped))
                finally:
                    os.close(top)
            finally:
                os.close(root)


def _links(directory: int, names: list[str]) -> list[str]:
    links = []
    for name in names:
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode):
                links.append(name)
    return links


def _note(skipped: list[str]) -> str:
    return (
        "These entries could not be read and are not in this archive:\n" + "\n".join(skipped) + "\n"
    )


def _add(
    zf: zipfile.ZipFile,
    directory: int,
    name: str,
    arcname: str,
    skipped: list[str],
    stop: threading.Event,
) -> None:
    try:
        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except OSError as error:
        skipped.append(f"{arcname}: {error.strerror}")
        return
    stamp = datetime.fromtimestamp(max(info.st_mtime, 315532800), UTC).timetuple()[:6]
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(name, dir_fd=directory)
        except OSError as error:
            skipped.append(f"{arcname}: {error.strerror}")
            return
        entry = zipfile.ZipInfo(arcname, date_time=stamp)
        entry.create_system = 3  # unix: the external attributes below are a file mode
        entry.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(entry, target)
        return
    if not stat.S_ISREG(info.st_mode):
        skipped.append(f"{arcname}: not a regular file")
        return
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        descriptor = os.open(name, flags, dir_fd=directory)
    except OSError as error:
        skipped.append(f"{arcname}: {error.strerror}")
        return
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            skipped.append(f"{arcname}: not a regular file")
            return
        entry = zipfile.ZipInfo(arcname, date_time=stamp)
        entry.create_system = 3
        entry.external_attr = (stat.S_IFREG | (info.st_mode & 0o777)) << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(entry, "w", force_zip64=True) as member:
            while not stop.is_set():
                chunk = os.read(descriptor, CHUNK_BYTES)
                if not chunk:
                    break
                member.write(chunk)
    finally:
        os.close(descriptor)


class ChunkSink:
    """A non-seekable file for ``zipfile`` that hands bytes on in chunks of about 1 MiB
    through ``deliver`` (which blocks while the reader is behind: flat memory)."""

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self._deliver = deliver
        self._buffer = bytearray()
        self._written = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._written += len(data)
        if len(self._buffer) >= CHUNK_BYTES:
            self._deliver(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def tell(self) -> int:
        # zipfile asks where it is to record offsets; a non-seekable sink knows that much.
        return self._written

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        if self._buffer:
            self._deliver(bytes(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        self.flush()
