"""Host uids of strict Sprites, handed out machine-wide.

A Sprite's uid is what separates it from every other Sprite on the machine: its home is
owned by it, the network rules (``egress.py``) key its loopback ports on it, signals and
``/proc`` follow it. So two Sprites must never share one, even when they belong to two
control planes on one machine (two data directories: a developer's and a test run's, or
two test stacks side by side). A counter kept in each data directory handed the same uid
to the first Sprite of every directory; one Sprite's destroy then took away the other's
loopback ports, and both could reach each other's files.

The registry is a root-only directory with one claim file per uid in use (its content names
the owner, ``<sprites dir>/<name>``), a counter and a lock. A uid is free again only once its
Sprite is destroyed (its home deleted, its rules dropped), and the counter moves on, so a
freed uid comes back only after the whole range has been handed out once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sprites.backends.base import SpriteError

REGISTRY = Path("/var/lib/starter/sprite-uids")


class UidRegistry:
    def __init__(self, first: int, last: int, directory: Path = REGISTRY) -> None:
        self.first = first
        self.last = last
        self.directory = directory

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def _claim_file(self, uid: int) -> Path:
        return self.directory / str(uid)

    def _next(self) -> int:
        try:
            value = int((self.directory / ".next").read_text().strip())
        except (FileNotFoundError, ValueError):
            return self.first
        return value if self.first <= value <= self.last else self.first

    def claim(self, owner: str) -> int:
        """A uid no other Sprite on this machine holds, now held by ``owner``."""
        with self._locked():
            start = self._next()
            size = self.last - self.first + 1
            for step in range(size):
                uid = self.first + (start - self.first + step) % size
                try:
                    descriptor = os.open(
                        self._claim_file(uid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
                    )
                except FileExistsError:
                    continue
                with os.fdopen(descriptor, "w") as claim:
                    claim.write(owner)
                (self.directory / ".next").write_text(str(uid + 1))
                return uid
        raise SpriteError("This machine has run out of Sprite uids.")

    def adopt(self, uid: int, owner: str) -> None:
        """Record ``owner``'s uid (given before this registry existed) unless it is held."""
        with self._locked(), contextlib.suppress(FileExistsError):
            descriptor = os.open(self._claim_file(uid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as claim:
                claim.write(owner)

    def holder(self, uid: int) -> str | None:
        try:
            return self._claim_file(uid).read_text()
        except FileNotFoundError:
            return None

    def release(self, uid: int, owner: str) -> None:
        """``owner`` gives its uid back (only its own claim is removed)."""
        with self._locked():
            if self.holder(uid) == owner:
                self._claim_file(uid).unlink(missing_ok=True)
