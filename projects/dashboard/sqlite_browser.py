"""A SQLite database made by the agent, as a table browser: its tables and views, and one
page of one table's rows.

Where it is read, and why there: in the control plane, from a private copy of the file's
bytes, never from the Sprite's own file and never by running ``sqlite3`` in the Sprite.
Whatever runs in the Sprite is the agent's (it can replace ``python3`` or ``sqlite3``
there), so its answer would be as untrusted as the file and its output size unbounded; here
the file is only *data* for a connection that cannot do anything but read, bounded:

- opened ``mode=ro&immutable=1`` on the copy (no journal, no WAL, no locks, no writes);
- an authorizer allows only SELECT, reads and a short list of harmless functions, so a
  crafted schema (a view that ATTACHes, calls ``load_extension``, or writes) is refused,
  and extension loading stays off;
- a progress handler interrupts any statement after ``TIME_LIMIT_SECONDS`` (a view with a
  runaway recursive query, a huge ``count(*)``), and ``SQLITE_LIMIT_LENGTH`` caps values;
- pages of ``PAGE_ROWS`` rows, at most ``MAX_COLUMNS`` columns, cells cut at
  ``MAX_CELL_CHARACTERS``, blobs shown as their size;
- names (tables, columns) are rendered as text by the template, and a table is only ever
  read by a name taken from the database's own list, quoted as an identifier.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from projects.errors import ProjectError

PAGE_ROWS = 100
MAX_PAGE = 100_000
MAX_TABLES = 500
MAX_COLUMNS = 50
MAX_CELL_CHARACTERS = 500
MAX_VALUE_BYTES = 1024 * 1024
TIME_LIMIT_SECONDS = 2.0
HEADER = b"SQLite format 3\x00"
# Functions a view may call; anything else (load_extension, fts3_tokenizer, …) is denied.
ALLOWED_FUNCTIONS = frozenset(
    {
        "count", "length", "substr", "lower", "upper", "abs", "coalesce", "ifnull", "max",
        "min", "sum", "total", "avg", "round", "typeof", "date", "time", "datetime",
        "strftime", "julianday", "printf", "format", "trim", "ltrim", "rtrim", "replace",
        "instr", "group_concat", "nullif", "iif", "hex", "quote", "cast", "like", "glob",
        "json", "json_extract", "unixepoch",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TablePage:
    tables: list[str]  # tables and views, by name
    table: str  # the one shown ("" when there is none)
    columns: list[str]
    rows: list[list[str]]
    page: int  # from 0
    has_next: bool
    total_rows: int | None  # None when counting took too long
    more_columns: bool

    @property
    def first_row(self) -> int:
        return self.page * PAGE_ROWS + 1 if self.rows else 0

    @property
    def last_row(self) -> int:
        return self.page * PAGE_ROWS + len(self.rows)


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
    if action in {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in ALLOWED_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


@contextmanager
def _connection(data: bytes) -> Iterator[sqlite3.Connection]:
    if not data.startswith(HEADER):
        raise ProjectError("This is not a SQLite database (its header is not SQLite's).")
    with tempfile.TemporaryDirectory(prefix="starter-sqlite-") as folder:
        copy = Path(folder) / "db.sqlite"
        descriptor = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        uri = f"file:{quote(str(copy))}?mode=ro&immutable=1"
        connection = sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=True)
        try:
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            connection.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, 2000)
            deadline = [time.monotonic() + TIME_LIMIT_SECONDS]
            connection.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 1000)
            connection.set_authorizer(_authorize)
            connection.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
            yield connection
        finally:
            connection.close()


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value)
    if len(text) > MAX_CELL_CHARACTERS:
        return text[:MAX_CELL_CHARACTERS] + "…"
    return text


def _fail(error: sqlite3.Error) -> ProjectError:
    if "interrupted" in str(error):
        return ProjectError(
            f"Reading this database took longer than {TIME_LIMIT_SECONDS:.0f} s; download it "
            "to look at it with your own tools."
        )
    return ProjectError(f"This database cannot be read here: {error}.")


def browse(data: bytes, table: str | None = None, page: int = 0) -> TablePage:
    """The tables of the database in ``data``, and page ``page`` of ``table`` (the first
    table when None or unknown)."""
    page = min(max(page, 0), MAX_PAGE)
    with _connection(data) as connection:
        try:
            tables = [
                str(row[0])
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY type, name LIMIT ?",
                    (MAX_TABLES,),
                )
            ]
        except sqlite3.Error as error:
            raise _fail(error) from error
        if not tables:
            return TablePage(tables, "", [], [], 0, False, 0, False)
        chosen = table if table in tables else tables[0]
        try:
            # The name is one of the database's own, quoted as an identifier.
            cursor = connection.execute(
                f"SELECT * FROM {_identifier(chosen)} LIMIT ? OFFSET ?",  # noqa: S608
                (PAGE_ROWS + 1, page * PAGE_ROWS),
            )
            found = cursor.fetchall()
            columns = [str(column[0]) for column in cursor.description or []]
        except sqlite3.Error as error:
            raise _fail(error) from error
        try:
            total: int | None = int(
                connection.execute(
                    f"SELECT count(*) FROM {_identifier(chosen)}"  # noqa: S608
                ).fetchone()[0]
            )
        except sqlite3.Error:
            total = None  # too slow or refused: the pages still work
    return TablePage(
        tables=tables,
        table=chosen,
        columns=columns[:MAX_COLUMNS],
        rows=[[_cell(value) for value in row[:MAX_COLUMNS]] for row in found[:PAGE_ROWS]],
        page=page,
        has_next=len(found) > PAGE_ROWS,
        total_rows=total,
        more_columns=len(columns) > MAX_COLUMNS,
    )
