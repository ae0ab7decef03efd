"""Keeps inspect.db's ``services`` rows in step with the supervisor, off the event loop.

Status changes come fast (a crash loop, a cron job every few seconds) and a write may wait
for the agent's own lock on inspect.db, so changes are collected per service (the newest
wins) and written by one owned task in a thread, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

from bridge_agent.concurrency import watched_task
from bridge_agent.services import store

logger = logging.getLogger("bridge_agent.services")


class InspectMirror:
    def __init__(self, path: Path) -> None:
        self.path = path
        # name → the row to write, or None to delete it.
        self._pending: dict[str, dict[str, Any] | None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = watched_task(self._run(), name="services-inspect", logger=logger, forever=True)

    def put(self, name: str, row: dict[str, Any] | None) -> None:
        self._pending[name] = row
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        batch, self._pending = self._pending, {}
        await asyncio.to_thread(self._write, batch)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Taken on the loop's thread, so a change that comes during the write waits
            # for the next round instead of racing it.
            batch, self._pending = self._pending, {}
            await asyncio.to_thread(self._write, batch)

    def _write(self, batch: dict[str, dict[str, Any] | None]) -> None:
        for name, row in batch.items():
            try:
                if row is None:
                    store.delete_service_row(self.path, name)
                else:
                    store.upsert_service_row(self.path, row)
            except (sqlite3.Error, OSError):
                logger.warning("inspect.db: the row of service %s was not written", name)
