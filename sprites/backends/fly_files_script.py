"""The file operations ``fly_file_streams`` runs inside a Fly Sprite with ``python3 -c``
(the Sprites API has no lstat, ranges, archives, rename or delete of its own).

Run with the home as the working directory: ``python3 -c SOURCE OPERATION ARGUMENTS…``.
Paths are relative to the home; a symbolic link is never followed, in any part of a path
(each part is looked at with lstat), so what the files panel sees is what is there.
Answers: JSON on stdout (or the bytes of a ``read``), exit status 0; a refusal is exit
status 3 with ``{"problem": "missing" | "refused" | "other", "message": …}``.

This file is sent as source: it imports only the standard library and is self-contained.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable

CHUNK = 1024 * 1024
SKIPPED_NOTE = "_starter-skipped.txt"


class Refused(Exception):
    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def check(path: str, *, last_may_be_link: bool = True, must_exist: bool = True) -> str:
    """``path`` (relative, no ``..``) with no link before its last part."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts or path.startswith("/"):
        raise Refused("refused", f"{path!r} leads outside the home.")
    current = "."
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            if must_exist or index < len(parts) - 1:
                raise Refused("missing", f"No file or directory {path!r} in the home.") from None
            return current
        last = index == len(parts) - 1
        if stat.S_ISLNK(info.st_mode) and not (last and last_may_be_link):
            raise Refused("refused", f"{path!r} goes through a link; links are never followed.")
        if not last and not stat.S_ISDIR(info.st_mode):
            raise Refused("refused", f"A part of {path!r} is not a directory.")
    return current


def describe(path: str) -> dict[str, object]:
    info = os.lstat(path)
    is_link = stat.S_ISLNK(info.st_mode)
    return {
        "name": os.path.basename(os.path.normpath(path)) or ".",
        "is_dir": stat.S_ISDIR(info.st_mode),
        "is_link": is_link,
        "size": info.st_size,
        "mtime": info.st_mtime,
        "target": os.readlink(path) if is_link else "",
    }


def open_regular(path: str) -> int:
    descriptor = os.open(
        check(path, last_may_be_link=False), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    )
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise Refused("refused", f"{path!r} is {kind}.")
    return descriptor


def op_stat(path: str) -> None:
    print(json.dumps(describe(check(path))))


def op_list(path: str) -> None:
    folder = check(path, last_may_be_link=False)
    entries = []
    for name in sorted(os.listdir(folder)):
        with contextlib.suppress(FileNotFoundError):  # removed while listing
            entries.append(describe(os.path.join(folder, name)))
    print(json.dumps(entries))


def op_read(path: str, offset: str, length: str) -> None:
    descriptor = open_regular(path)
    try:
        remaining = int(length)
        os.lseek(descriptor, int(offset), os.SEEK_SET)
        while remaining > 0:
            chunk = os.read(descriptor, min(CHUNK, remaining))
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
            remaining -= len(chunk)
    finally:
        os.close(descriptor)


def op_archive(path: str) -> None:
    top = check(path, last_may_be_link=False)
    if not os.path.isdir(top) or os.path.islink(top):
        raise Refused("refused", f"{path!r} is not a folder.")
    handle, target = tempfile.mkstemp(prefix="starter-archive-", suffix=".zip")
    os.close(handle)
    skipped: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for relative, directories, files, directory in os.fwalk(top, follow_symlinks=False):
            prefix = os.path.relpath(relative, top)
            prefix = "" if prefix == "." else prefix + "/"
            if prefix:
                archive.writestr(zipfile.ZipInfo(prefix), b"")
            links = [d for d in directories if _is_link(d, directory)]
            for name in [*files, *links]:
                _add(archive, directory, name, prefix + name, skipped)
        if skipped:
            archive.writestr(
                SKIPPED_NOTE, "These entries could not be read:\n" + "\n".join(skipped) + "\n"
            )
    print(json.dumps({"archive": target, "size": os.path.getsize(target)}))


def _is_link(name: str, directory: int) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    return False


def _add(
    archive: zipfile.ZipFile, directory: int, name: str, arcname: str, skipped: list[str]
) -> None:
    try:
        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            entry = zipfile.ZipInfo(arcname)
            entry.create_system = 3
            entry.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(entry, os.readlink(name, dir_fd=directory))
            return
        if not stat.S_ISREG(info.st_mode):
            skipped.append(f"{arcname}: not a regular file")
            return
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
    except OSError as error:
        skipped.append(f"{arcname}: {error.strerror}")
        return
    try:
        entry = zipfile.ZipInfo(arcname)
        entry.create_system = 3
        entry.external_attr = (stat.S_IFREG | (info.st_mode & 0o777)) << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(entry, "w", force_zip64=True) as member:
            while chunk := os.read(descriptor, CHUNK):
                member.write(chunk)
    finally:
        os.close(descriptor)


def _own_archive(path: str) -> str:
    name = os.path.basename(path)
    if not (name.startswith("starter-archive-") and name.endswith(".zip")):
        raise Refused("refused", "Only the archives this script made are read by path.")
    if os.path.dirname(os.path.abspath(path)) != os.path.abspath(tempfile.gettempdir()):
        raise Refused("refused", "Only the archives this script made are read by path.")
    return path


def op_read_archive(path: str, offset: str, length: str) -> None:
    with open(_own_archive(path), "rb") as file:
        file.seek(int(offset))
        remaining = int(length)
        while remaining > 0:
            chunk = file.read(min(CHUNK, remaining))
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
            remaining -= len(chunk)


def op_remove_temporary(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_own_archive(path))
    print("{}")


def op_begin(path: str) -> None:
    """A temporary file beside ``path`` (its folders made) that ``append`` fills."""
    parent, name = os.path.split(path)
    if not name:
        raise Refused("refused", "Give a file path, not a directory.")
    if parent:
        folder = check(parent, last_may_be_link=False, must_exist=False)
        os.makedirs(folder, exist_ok=True)
        check(parent, last_may_be_link=False)
    temporary = os.path.join(parent, f".{name[:180]}.upload-{os.urandom(6).hex()}")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    print(json.dumps({"temporary": temporary}))


def op_append(part: str, temporary: str) -> None:
    check(part, last_may_be_link=False)
    target = os.open(
        check(temporary, last_may_be_link=False), os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW
    )
    try:
        source = open_regular(part)
        try:
            while chunk := os.read(source, CHUNK):
                os.write(target, chunk)
        finally:
            os.close(source)
    finally:
        os.close(target)
        os.unlink(part)
    print("{}")


def op_finish(temporary: str, path: str) -> None:
    final = check(path, must_exist=False)
    if os.path.lexists(final):
        info = os.lstat(final)
        if not stat.S_ISREG(info.st_mode):
            kind = "link" if stat.S_ISLNK(info.st_mode) else "folder"
            raise Refused("refused", f"{path!r} is a {kind}; it is not replaced by a file.")
    os.rename(check(temporary, last_may_be_link=False), final)
    print(json.dumps(describe(final)))


def op_abandon(temporary: str) -> None:
    with contextlib.suppress(OSError, Refused):
        os.unlink(check(temporary, last_may_be_link=False))
    print("{}")


def op_rename(source: str, destination: str) -> None:
    origin = check(source)
    parent = os.path.dirname(destination)
    if parent:
        os.makedirs(check(parent, last_may_be_link=False, must_exist=False), exist_ok=True)
    target = check(destination, must_exist=False)
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.renameat2(-100, origin.encode(), -100, target.encode(), 1)
    if result != 0:
        number = ctypes.get_errno()
        if number == errno.EEXIST:
            raise Refused("refused", f"{destination!r} already exists; it is not replaced.")
        if number in (errno.ENOSYS, errno.EINVAL) and not os.path.lexists(target):
            os.rename(origin, target)  # an older kernel: checked just before
        else:
            raise OSError(number, os.strerror(number), destination)
    print("{}")


def op_delete(path: str) -> None:
    target = check(path)
    if os.path.normpath(target) == ".":
        raise Refused("refused", "The home itself cannot be deleted.")
    if stat.S_ISDIR(os.lstat(target).st_mode):
        shutil.rmtree(target)  # never follows a link inside
    else:
        os.unlink(target)
    print("{}")


OPERATIONS: dict[str, Callable[..., None]] = {
    "stat": op_stat,
    "list": op_list,
    "read": op_read,
    "archive": op_archive,
    "read-archive": op_read_archive,
    "remove-temporary": op_remove_temporary,
    "begin": op_begin,
    "append": op_append,
    "finish": op_finish,
    "abandon": op_abandon,
    "rename": op_rename,
    "delete": op_delete,
}


def main(arguments: list[str]) -> int:
    try:
        OPERATIONS[arguments[0]](*arguments[1:])
    except Refused as refusal:
        print(json.dumps({"problem": refusal.problem, "message": refusal.message}))
        return 3
    except FileNotFoundError as error:
        print(json.dumps({"problem": "missing", "message": f"No such file: {error.filename}"}))
        return 3
    except OSError as error:
        print(json.dumps({"problem": "other", "message": f"{error.strerror} ({error.filename})"}))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
