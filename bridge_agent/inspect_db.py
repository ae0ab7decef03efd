"""``inspect.db``: the SQLite file the agent writes with plain SQL and the dashboard reads.

The schema is the seed's, exactly. The agent writes from its own processes (``sqlite3``,
Python, Node), so the bridge learns about writes by polling: ``PRAGMA data_version`` changes
when another connection commits, and the file's identity (inode, size, mtime) catches a file
that was replaced or deleted. Both checks are a few microseconds, so a 250 ms poll is cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge_agent.concurrency import watched_task

logger = logging.getLogger("bridge_agent.inspect")

TABLES = ("integrations", "services", "assets")

SCHEMA = """\
CREATE TABLE IF NOT EXISTS integrations (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  status      TEXT NOT NULL,
  secrets     TEXT,
  description TEXT,
  created_at  TEXT NOT NULL DEFAULT (datetime('now')),
  updated_at  TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS services (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  type        TEXT NOT NULL,
  port        INTEGER,
  schedule    TEXT,
  status      TEXT NOT NULL,
  description TEXT,
  created_at  TEXT NOT NULL DEFAULT (datetime('now')),
  updated_at  TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS assets (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  type        TEXT NOT NULL,
  path        TEXT NOT NULL,
  description TEXT,
  created_at  TEXT NOT NULL DEFAULT (datetime('now')),
  updated_at  TEXT NOT NULL DEFAULT (datetime('now'))
);
"""

# What the agent is told about the columns' meaning (the seed's comments).
SCHEMA_NOTES = """\
integrations: third-party integrations you set up. status is 'connected', 'error' or \
'disconnected'; secrets is a JSON array of secret NAMES (never values), e.g. ["STRIPE_KEY"].
services: running apps, APIs and background jobs. type is 'app', 'api', 'cron' or 'worker'; \
port for apps/APIs; schedule for crons (e.g. 'every 1h'); status is 'running', 'stopped' or \
'error'. Services started with start_service (or starter-service) have their rows kept by the \
platform (id = the service's name); don't write those.
assets: notable files, documents and reports to surface. type is 'document', 'spreadsheet', \
'image' or 'data'; path is the file's path in this machine.
"""


def ensure_inspect_db(path: Path) -> None:
    """Create the file and any missing table; existing data is left alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SCHEMA)
        connection.commit()
    finally:
        connection.close()


def read_inspect_db(path: Path) -> dict[str, list[dict[str, Any]]]:
    """All rows of the three tables (read-only; a missing table reads as empty)."""
    if not path.exists():
        ensure_inspect_db(path)
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    connection.row_factory = sqlite3.Row
    try:
        result: dict[str, list[dict[str, Any]]] = {}
        for table in TABLES:
            try:
                rows = connection.execute(f"SELECT * FROM {table} ORDER BY created_at, id")  # noqa: S608
                result[table] = [dict(row) for row in rows]
            except sqlite3.DatabaseError:
                result[table] = []
        return result
    finally:
        connection.close()


class InspectWatcher:
    """Polls ``inspect.db`` and calls ``on_change`` after writes by anyone else."""

    def __init__(self, path: Path, on_change: Callable[[], None], interval: float = 0.25) -> None:
        self.path = path
        self.on_change = on_change
        self.interval = interval
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, ...] | None = None
        self._data_version: int | None = None
        self._initialized = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._snapshot()
        self._task = watched_task(self._run(), name="inspect-watcher", logger=logger, forever=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if self._snapshot():
                    self.on_change()
            except Exception:
                logger.exception("inspect.db poll failed")

    def _snapshot(self) -> bool:
        """Refresh what we know about the file; True when it changed since last time."""
        identity = self._file_identity()
        identity_changed = identity != self._identity
        if identity_changed:
            # Replaced, rewritten or deleted: a fresh connection sees the current file.
            self._close()
        if self._connection is None and identity is not None:
            self._connection = sqlite3.connect(self.path, check_same_thread=False)
        version = None
        if self._connection is not None:
            version = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        changed = self._initialized and (identity_changed or version != self._data_version)
        self._initialized = True
        self._identity = identity
        self._data_version = version
        return changed

    def _file_identity(self) -> tuple[int, ...] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
