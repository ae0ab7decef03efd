"""inspect.db: the seed's ``services`` table mirrors the supervised services, and
``service_runs`` keeps each cron job's recent runs.

The agent writes inspect.db too (with its own connections, at any time), so every write
here is short, waits at most ``BUSY_TIMEOUT`` for the agent's lock, and creates what it
needs first: a checkpoint restore or the agent may have replaced the file. Rows of the
``services`` table that the agent wrote under other ids are never touched.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridge_agent.inspect_db import SCHEMA, ensure_inspect_db
from bridge_agent.protocol import MAX_RUN_OUTPUT_CHARS

BUSY_TIMEOUT = 2.0
RUNS_KEPT = 50
RUNS_SCHEMA = """\
CREATE TABLE IF NOT EXISTS service_runs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  service     TEXT NOT NULL,
  started_at  TEXT NOT NULL,
  ended_at    TEXT,
  exit_code   INTEGER,
  output      TEXT NOT NULL DEFAULT '',
  trigger     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS service_runs_by_service ON service_runs (service, id);
"""
_RUN_COLUMNS = "id, service, started_at, ended_at, exit_code, output, trigger"


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    if not path.exists():
        ensure_inspect_db(path)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT)
    try:
        with connection:
            yield connection
    finally:
        connection.close()


def ensure_runs_table(path: Path, now: str) -> None:
    """Create the table; runs a previous bridge never saw end (it was killed) end now,
    without an exit code."""
    with _connect(path) as connection:
        connection.executescript(RUNS_SCHEMA)
        connection.execute("UPDATE service_runs SET ended_at = ? WHERE ended_at IS NULL", (now,))


def upsert_service_row(path: Path, row: dict[str, Any]) -> None:
    """Insert or update the ``services`` row whose id is the service's name."""
    with _connect(path) as connection:
        connection.executescript(SCHEMA)
        connection.execute(
            "INSERT INTO services (id, name, type, port, schedule, status, description)"
            " VALUES (:id, :name, :type, :port, :schedule, :status, :description)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type,"
            " port = excluded.port, schedule = excluded.schedule, status = excluded.status,"
            " description = excluded.description, updated_at = datetime('now')",
            row,
        )


def delete_service_row(path: Path, name: str) -> None:
    with _connect(path) as connection:
        connection.executescript(SCHEMA)
        connection.execute("DELETE FROM services WHERE id = ?", (name,))


def start_run(path: Path, service: str, started_at: str, trigger: str) -> int:
    with _connect(path) as connection:
        connection.executescript(RUNS_SCHEMA)
        cursor = connection.execute(
            "INSERT INTO service_runs (service, started_at, trigger) VALUES (?, ?, ?)",
            (service, started_at, trigger),
        )
        run_id = int(cursor.lastrowid or 0)
        # Keep the newest RUNS_KEPT runs of this job.
        connection.execute(
            "DELETE FROM service_runs WHERE service = ? AND id <= ("
            " SELECT id FROM service_runs WHERE service = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (service, service, RUNS_KEPT),
        )
        return run_id


def end_run(path: Path, run_id: int, ended_at: str, exit_code: int | None, output: str) -> None:
    with _connect(path) as connection:
        connection.executescript(RUNS_SCHEMA)
        connection.execute(
            "UPDATE service_runs SET ended_at = ?, exit_code = ?, output = ? WHERE id = ?",
            (ended_at, exit_code, output[-MAX_RUN_OUTPUT_CHARS:], run_id),
        )


def list_runs(path: Path, service: str, limit: int = RUNS_KEPT) -> list[dict[str, Any]]:
    """A job's runs, newest first (an unreadable or missing table reads as none)."""
    if not path.exists():
        return []
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error:
        return []
    try:
        connection.row_factory = sqlite3.Row
        rows = connection.execute(
            f"SELECT {_RUN_COLUMNS} FROM service_runs WHERE service = ? ORDER BY id DESC LIMIT ?",  # noqa: S608
            (service, limit),
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        connection.close()
    return [_run_json(dict(row)) for row in rows]


def _run_json(row: dict[str, Any]) -> dict[str, Any]:
    output = row.get("output")
    return {
        "id": int(row["id"]),
        "service": str(row["service"]),
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "exit_code": row["exit_code"] if isinstance(row["exit_code"], int) else None,
        "output": output[-MAX_RUN_OUTPUT_CHARS:] if isinstance(output, str) else "",
        "trigger": row["trigger"],
    }


def run_json(
    run_id: int,
    service: str,
    started_at: str,
    ended_at: str | None,
    exit_code: int | None,
    output: str,
    trigger: str,
) -> dict[str, Any]:
    return _run_json(
        {
            "id": run_id,
            "service": service,
            "started_at": started_at,
            "ended_at": ended_at,
            "exit_code": exit_code,
            "output": output,
            "trigger": trigger,
        }
    )
