"""Checkpoints of a local Sprite: full copies of its home, listed in a JSON index.

Copies use ``cp --reflink=auto -a`` so they are nearly free on filesystems with
copy-on-write (btrfs, XFS) and plain copies elsewhere. Ids follow the Fly style
(``v1``, ``v2``, ...) and are never reused.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sprites.backends.base import Checkpoint, SpriteError


async def copy_tree(source: Path, destination: Path, *, as_uid: int | None = None) -> None:
    """Copy ``source`` to a new ``destination`` keeping modes, times and symlinks.

    With ``as_uid`` (a Sprite's uid) the copy runs as that user into a directory it owns:
    the tree is the tenant's, and whatever links it holds, the copy can read and write
    nothing the Sprite could not.
    """
    argv = ["cp", "--reflink=auto", "-a", "--", str(source), str(destination)]
    if as_uid is not None:
        os.mkdir(destination, 0o700)
        os.chown(destination, as_uid, as_uid)
        argv = ["cp", "--reflink=auto", "-a", "--", f"{source}/.", f"{destination}/"]
        argv = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups", *argv]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise SpriteError(
            f"Copying the Sprite's files failed: {stderr.decode(errors='replace').strip()}",
            retryable=True,
        )


class CheckpointStore:
    """The checkpoints of one Sprite under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._index = directory / "index.json"

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self._index.read_text())
        except FileNotFoundError:
            return {"next": 1, "checkpoints": []}
        if not isinstance(data, dict):
            raise SpriteError(f"The checkpoint index {self._index} is damaged.")
        return data

    def _write(self, data: dict[str, object]) -> None:
        temporary = self._index.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        os.replace(temporary, self._index)

    def list(self) -> list[Checkpoint]:
        entries = self._read()["checkpoints"]
        assert isinstance(entries, list)
        return [
            Checkpoint(
                id=entry["id"],
                comment=entry["comment"],
                created_at=datetime.fromisoformat(entry["created_at"]),
            )
            for entry in entries
        ]

    def copy_of(self, checkpoint_id: str) -> Path:
        if checkpoint_id not in {checkpoint.id for checkpoint in self.list()}:
            raise SpriteError(f"No checkpoint {checkpoint_id!r}: list the checkpoints to pick one.")
        return self.directory / checkpoint_id / "home"

    async def create(self, home: Path, comment: str, *, as_uid: int | None = None) -> Checkpoint:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o711)
        data = self._read()
        number = int(str(data["next"]))
        checkpoint_id = f"v{number}"
        data["next"] = number + 1
        # Reserve the id before the (slow) copy, so two concurrent calls never share it.
        self._write(data)
        destination = self.directory / checkpoint_id
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir()
        destination.chmod(0o711)
        await copy_tree(home, destination / "home", as_uid=as_uid)
        checkpoint = Checkpoint(id=checkpoint_id, comment=comment, created_at=datetime.now(UTC))
        data = self._read()
        entries = data["checkpoints"]
        assert isinstance(entries, list)
        entries.append(
            {
                "id": checkpoint.id,
                "comment": checkpoint.comment,
                "created_at": checkpoint.created_at.isoformat(),
            }
        )
        self._write(data)
        return checkpoint
