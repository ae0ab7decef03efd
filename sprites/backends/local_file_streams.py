"""``SpriteFileStreams`` for the local backend (issue 17): a person's file operations on a
local Sprite's home, through ``beneath_streams.StrictHome`` (beneath the home, as the
Sprite's uid, no link ever followed).

Blocking work runs in worker threads; big reads and archives are handed to the async side
one chunk at a time through a small bounded queue, so a download of any size holds a few
MiB in the web process at most, and a reader that goes away stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import AsyncIterator

from sprites.backends.base import FileEntry, SpriteError
from sprites.backends.beneath import Home
from sprites.backends.beneath_streams import CHUNK_BYTES, ChunkSink, Stat, StrictHome

# Chunks waiting for a slow reader; with 1 MiB chunks the queue holds a few MiB at most.
_QUEUE_CHUNKS = 4
_DONE = object()


def file_entry(entry: Stat, path: str) -> FileEntry:
    return FileEntry(
        name=entry.name,
        path=path,
        is_dir=entry.is_dir,
        size=entry.size,
        modified_at=entry.modified_at,
        is_link=entry.is_link,
        link_target=entry.link_target,
    )


class LocalFileStreamMethods:
    """Mixed into ``LocalBackend``, whose ``_files`` and ``_relative`` it uses."""

    def _files(self, name: str) -> Home:
        raise NotImplementedError

    def _relative(self, name: str, path: str) -> str:
        raise NotImplementedError

    def _strict(self, name: str) -> StrictHome:
        return StrictHome(self._files(name))

    async def stat_file(self, name: str, path: str) -> FileEntry:
        relative = self._relative(name, path)
        entry = await asyncio.to_thread(self._strict(name).stat, relative)
        return file_entry(entry, relative)

    async def read_file_range(self, name: str, path: str, offset: int, length: int) -> bytes:
        relative = self._relative(name, path)
        if offset < 0 or length < 0:
            raise SpriteError("A range starts and has a length of at least 0.")
        return await asyncio.to_thread(self._strict(name).read_range, relative, offset, length)

    async def stream_file(self, name: str, path: str) -> AsyncIterator[bytes]:
        relative = self._relative(name, path)
        descriptor = await asyncio.to_thread(self._strict(name).open_file, relative)
        try:
            while True:
                chunk = await asyncio.to_thread(os.read, descriptor, CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk
        finally:
            os.close(descriptor)

    async def stream_archive(self, name: str, path: str = ".") -> AsyncIterator[bytes]:
        relative = self._relative(name, path)
        strict = self._strict(name)
        chunks: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        stop = threading.Event()

        def deliver(chunk: bytes) -> None:
            # Blocks while the reader is behind; gives up once it has gone.
            while not stop.is_set():
                try:
                    chunks.put(chunk, timeout=0.5)
                    return
                except queue.Full:
                    continue

        def work() -> None:
            outcome: object = _DONE
            try:
                sink = ChunkSink(deliver)
                strict.write_archive(relative, sink, stop)  # type: ignore[arg-type]
                sink.flush()
            except SpriteError as error:
                outcome = error
            except Exception as error:  # told to the reader rather than lost in a thread
                outcome = SpriteError(f"The archive could not be made ({error}).")
            deliver(outcome)  # type: ignore[arg-type]

        worker = threading.Thread(target=work, name="sprite-archive", daemon=True)
        worker.start()
        try:
            while True:
                item = await asyncio.to_thread(chunks.get)
                if item is _DONE:
                    return
                if isinstance(item, SpriteError):
                    raise item
                assert isinstance(item, bytes)
                yield item
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    chunks.get_nowait()

    async def write_file_stream(
        self, name: str, path: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> FileEntry:
        relative = self._relative(name, path)
        if relative in (".", ""):
            raise SpriteError("Give a file path, not the home itself.", path_problem="refused")
        strict = self._strict(name)
        directory, descriptor, temporary, final = await asyncio.to_thread(
            strict.begin_write, relative
        )
        finished = False
        try:
            written = 0
            try:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > max_bytes:
                        raise SpriteError(
                            f"The file is larger than {max_bytes} bytes.", path_problem=None
                        )
                    await asyncio.to_thread(_write_all, descriptor, chunk)
            finally:
                os.close(descriptor)
            entry = await asyncio.to_thread(
                strict.finish_write, relative, directory, temporary, final
            )
            finished = True
            return file_entry(entry, relative)
        finally:
            if not finished:
                await asyncio.to_thread(strict.abandon_write, directory, temporary)
            os.close(directory)

    async def rename_file(self, name: str, source: str, destination: str) -> None:
        await asyncio.to_thread(
            self._strict(name).rename,
            self._relative(name, source),
            self._relative(name, destination),
        )

    async def delete_file(self, name: str, path: str) -> None:
        await asyncio.to_thread(self._strict(name).delete, self._relative(name, path))


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
