"""``SpriteFileStreams`` for the fly backend (issue 17), through the Sprites API.

The API reads and writes whole files only, so the rest runs in the Sprite with its exec
(``fly_files_script``, Python from the standard library, links never followed). Big reads
go in ranges of a few MiB, each one exec, so the web process holds one range at a time and
a slow reader slows the reads down; an archive is made in the Sprite's temporary folder,
read back in ranges and removed. Uploads go up in parts through the files API and are
appended in the Sprite to a temporary file that is moved over the target at the end.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import posixpath
import secrets
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sprites.backends.base import FileEntry, SpriteError
from sprites.backends.fly_errors import translated

# Sent compressed: the command travels in the exec URL, which servers keep short.
SCRIPT = (
    "import base64, zlib; exec(zlib.decompress(base64.b64decode("
    + repr(
        base64.b64encode(
            zlib.compress(Path(__file__).with_name("fly_files_script.py").read_bytes(), 9)
        ).decode()
    )
    + ")))"
)
# One exec reads this much; chunks handed on are at most 1 MiB (the interface's promise).
RANGE_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# Uploads go up in parts of this size through the files API.
PART_BYTES = 8 * 1024 * 1024
_REFUSED = 3


class FlyFileStreamMethods:
    """Mixed into ``FlyBackend``, whose ``_sprite``, ``_relative`` and ``home`` it uses."""

    home: str

    def _sprite(self, name: str) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    def _relative(self, path: str) -> str:
        raise NotImplementedError

    async def _files_script(self, name: str, arguments: Sequence[str]) -> bytes:
        """Run one operation of the script; its refusals as ``SpriteError``s."""
        async with self._sprite(name) as sprite:
            with translated(f"work on files in Sprite {name!r}"):
                completed = await sprite.run(
                    "python3", "-c", SCRIPT, *arguments,
                    capture_output=True, timeout=300, cwd=self.home,
                )  # fmt: skip
        stdout: bytes = completed.stdout or b""
        if completed.returncode == 0:
            return stdout
        if completed.returncode == _REFUSED:
            try:
                answer = json.loads(stdout)
                problem, message = answer["problem"], str(answer["message"])
            except (ValueError, KeyError, TypeError):
                problem, message = "other", "The Sprite gave an unreadable answer."
            raise SpriteError(
                message, path_problem=problem if problem in ("missing", "refused") else None
            )
        detail = (completed.stderr or b"").decode(errors="replace")[-300:]
        raise SpriteError(f"The file operation failed in Sprite {name!r}: {detail}")

    async def _json(self, name: str, arguments: Sequence[str]) -> Any:
        answer = await self._files_script(name, arguments)
        try:
            return json.loads(answer)
        except ValueError:
            raise SpriteError(f"Sprite {name!r} gave an unreadable answer.") from None

    def _entry(self, answer: Any, path: str) -> FileEntry:
        # The answer comes from inside the Sprite: untrusted, checked as it is read.
        try:
            return FileEntry(
                name=str(answer["name"]),
                path=path,
                is_dir=bool(answer["is_dir"]),
                size=int(answer["size"]),
                modified_at=datetime.fromtimestamp(float(answer["mtime"]), UTC),
                is_link=bool(answer["is_link"]),
                link_target=str(answer["target"]),
            )
        except (KeyError, TypeError, ValueError):
            raise SpriteError("The Sprite gave an unreadable file entry.") from None

    async def stat_file(self, name: str, path: str) -> FileEntry:
        relative = self._relative(path)
        return self._entry(await self._json(name, ["stat", relative]), relative)

    async def list_files(self, name: str, path: str = ".") -> list[FileEntry]:
        """Listed in the Sprite with lstat: the files API does not tell a link from what it
        points to."""
        relative = self._relative(path)
        answer = await self._json(name, ["list", relative])
        if not isinstance(answer, list):
            raise SpriteError(f"Sprite {name!r} gave an unreadable listing.")
        entries = []
        for item in answer:
            entry = self._entry(item, "")
            child = posixpath.normpath(posixpath.join(relative, entry.name))
            entries.append(dataclasses.replace(entry, path=child))
        return entries

    async def read_file_range(self, name: str, path: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise SpriteError("A range starts and has a length of at least 0.")
        return await self._files_script(
            name, ["read", self._relative(path), str(offset), str(length)]
        )

    async def _ranges(self, name: str, relative: str) -> AsyncIterator[bytes]:
        offset = 0
        while True:
            data = await self._files_script(name, ["read", relative, str(offset), str(RANGE_BYTES)])
            for start in range(0, len(data), CHUNK_BYTES):
                yield data[start : start + CHUNK_BYTES]
            offset += len(data)
            if len(data) < RANGE_BYTES:
                return

    async def stream_file(self, name: str, path: str) -> AsyncIterator[bytes]:
        relative = self._relative(path)
        async for chunk in self._ranges(name, relative):
            yield chunk

    async def stream_archive(self, name: str, path: str = ".") -> AsyncIterator[bytes]:
        answer = await self._json(name, ["archive", self._relative(path)])
        archive = str(answer.get("archive", "")) if isinstance(answer, dict) else ""
        if not archive:
            raise SpriteError("The Sprite did not make the archive.")
        try:
            offset = 0
            while True:
                # The archive lives outside the home: read it by its absolute path, which the
                # script accepts for its own archives only.
                data = await self._files_script(
                    name, ["read-archive", archive, str(offset), str(RANGE_BYTES)]
                )
                for start in range(0, len(data), CHUNK_BYTES):
                    yield data[start : start + CHUNK_BYTES]
                offset += len(data)
                if len(data) < RANGE_BYTES:
                    return
        finally:
            await self._files_script(name, ["remove-temporary", archive])

    async def write_file_stream(
        self, name: str, path: str, chunks: AsyncIterable[bytes], max_bytes: int
    ) -> FileEntry:
        relative = self._relative(path)
        if relative == ".":
            raise SpriteError("Give a file path, not the home itself.", path_problem="refused")
        temporary = str((await self._json(name, ["begin", relative]))["temporary"])
        finished = False
        try:
            written = 0
            part = bytearray()
            async for chunk in chunks:
                written += len(chunk)
                if written > max_bytes:
                    raise SpriteError(f"The file is larger than {max_bytes} bytes.")
                part += chunk
                if len(part) >= PART_BYTES:
                    await self._append(name, temporary, bytes(part))
                    part.clear()
            if part:
                await self._append(name, temporary, bytes(part))
            entry = self._entry(await self._json(name, ["finish", temporary, relative]), relative)
            finished = True
            return entry
        finally:
            if not finished:
                await self._files_script(name, ["abandon", temporary])

    async def _append(self, name: str, temporary: str, data: bytes) -> None:
        part = f"{temporary}.part-{secrets.token_hex(4)}"
        async with self._sprite(name) as sprite:
            with translated(f"upload to Sprite {name!r}"):
                await (sprite.filesystem(self.home) / part).write_bytes(data)
        await self._files_script(name, ["append", part, temporary])

    async def rename_file(self, name: str, source: str, destination: str) -> None:
        await self._files_script(
            name, ["rename", self._relative(source), self._relative(destination)]
        )

    async def delete_file(self, name: str, path: str) -> None:
        await self._files_script(name, ["delete", self._relative(path)])
