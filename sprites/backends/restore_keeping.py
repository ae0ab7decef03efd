"""What a checkpoint restore must not take back: pi's session files and the bridge's event log.

A restore brings back the Sprite's files as they were; the trace of what the agent did since
is not a file the person meant to roll back. Each backend calls this around its restore,
with the bridge stopped:

1. ``snapshot`` copies every session file (``~/.pi/sessions/*.jsonl``) and the event log
   (``~/.starter/events.db`` with its WAL) to a spool directory of the control plane;
2. the backend restores;
3. ``put_back`` writes each session file back where the restored copy is older (a prefix of
   it) or missing, appends a custom entry (``CHECKPOINT_RESTORE_ENTRY``) in pi's entry shape
   that says where the restore happened, puts the event log back (so event ids never go back
   in time and no reader's cursor points past the log), and leaves a note the bridge turns
   into a ``checkpoint_restored`` event when it starts.

Everything comes from the tenant: only plain files with session-like names are taken, links
and directories are skipped, every read is bounded, and the spool lives on the control
plane's disk (a file at a time in memory). Paths are always built here, never taken from
the Sprite; the backends' file access refuses anything outside the home.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bridge_agent import protocol
from sprites.backends.base import SpriteError

logger = logging.getLogger(__name__)

# The bridge's session directory (bridge_agent/config.py ``session_dir``), relative to the home.
SESSION_DIRECTORY = ".pi/sessions"
STATE_DIRECTORY = ".starter"
EVENT_LOG_FILES = (".starter/events.db", ".starter/events.db-wal", ".starter/events.db-shm")
# pi names its files ``<ISO-ts>_<id>.jsonl``; anything else in the folder is left alone.
SESSION_FILE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:-]{0,200}\.jsonl$")
SESSION_ID = re.compile(protocol.SESSION_ID_PATTERN)
MAX_SESSION_FILES = 1000
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_EVENT_LOG_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
# The previous leaf is looked for in this much of a file's end.
LEAF_SEARCH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Listed:
    name: str
    size: int
    is_file: bool


class HomeFiles(Protocol):
    """A backend's access to one Sprite's home (paths relative to it)."""

    async def list(self, path: str) -> Sequence[Listed]:
        """The entries of a directory; empty when it does not exist."""
        ...

    async def read(self, path: str, limit: int) -> bytes | None:
        """At most ``limit`` bytes of a plain file; None when it is missing or refused."""
        ...

    async def write(self, path: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class RestoreMarker:
    checkpoint_id: str
    comment: str
    restored_at: datetime

    def payload(self) -> dict[str, str]:
        return {
            "checkpoint_id": self.checkpoint_id,
            "comment": self.comment,
            "restored_at": self.restored_at.isoformat(),
        }


@dataclass
class Snapshot:
    spool: Path
    sessions: dict[str, Path] = field(default_factory=dict)  # relative path → spooled copy
    event_log: dict[str, Path] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


async def snapshot(files: HomeFiles, spool: Path) -> Snapshot:
    """Copy the session files and the event log out of the home (bridge stopped)."""
    taken = Snapshot(spool)
    total = 0
    entries = [
        entry
        for entry in await files.list(SESSION_DIRECTORY)
        if entry.is_file and SESSION_FILE_NAME.match(entry.name)
    ]
    for number, entry in enumerate(sorted(entries, key=lambda e: e.name)):
        relative = f"{SESSION_DIRECTORY}/{entry.name}"
        if number >= MAX_SESSION_FILES or entry.size > MAX_FILE_BYTES:
            taken.skipped.append(relative)
            continue
        data = await files.read(relative, MAX_FILE_BYTES + 1)
        if data is None or len(data) > MAX_FILE_BYTES or total + len(data) > MAX_TOTAL_BYTES:
            taken.skipped.append(relative)
            continue
        total += len(data)
        copy = spool / f"session-{number}"
        copy.write_bytes(data)
        taken.sessions[relative] = copy
    log: dict[str, Path] = {}
    state_files = {entry.name: entry for entry in await files.list(STATE_DIRECTORY)}
    for number, relative in enumerate(EVENT_LOG_FILES):
        listed = state_files.get(relative.rsplit("/", 1)[-1])
        if listed is None or not listed.is_file:
            continue
        data = (
            None
            if listed.size > MAX_EVENT_LOG_BYTES
            else await files.read(relative, MAX_EVENT_LOG_BYTES + 1)
        )
        if data is None or len(data) > MAX_EVENT_LOG_BYTES:
            taken.skipped.append(relative)
            log = {}
            break
        copy = spool / f"event-log-{number}"
        copy.write_bytes(data)
        log[relative] = copy
    if EVENT_LOG_FILES[0] in log:
        taken.event_log = log
    if taken.skipped:
        logger.warning("restore keeps no copy of %s (too large or unreadable)", taken.skipped)
    return taken


def _session_id(relative: str, data: bytes) -> str | None:
    """The id in the file's header line, or from its name."""
    first = data.split(b"\n", 1)[0]
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if isinstance(header, dict) and isinstance(header.get("id"), str):
        if SESSION_ID.match(header["id"]):
            return str(header["id"])
    stem = relative.rsplit("/", 1)[-1].removesuffix(".jsonl")
    candidate = stem.split("_", 1)[-1]
    return candidate if SESSION_ID.match(candidate) else None


def last_entry_id(data: bytes) -> str | None:
    """The id of the file's last entry (pi's leaf when it opens the file); lines that are
    not JSON objects with a plausible id are passed over."""
    for line in reversed(data[-LEAF_SEARCH_BYTES:].split(b"\n")):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("type") == "session":
            continue
        entry_id = entry.get("id")
        if isinstance(entry_id, str) and re.match(protocol.ENTRY_ID_PATTERN, entry_id):
            return entry_id
    return None


def marker_entry(data: bytes, marker: RestoreMarker) -> bytes:
    """The custom entry that marks the restore, in pi's shape, as one JSONL line."""
    timestamp = marker.restored_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    entry = {
        "type": "custom",
        "id": secrets.token_hex(4),
        "parentId": last_entry_id(data),
        "timestamp": timestamp,
        "customType": protocol.CHECKPOINT_RESTORE_ENTRY,
        "data": marker.payload(),
    }
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


async def put_back(
    files: HomeFiles, taken: Snapshot, marker: RestoreMarker, event_id_floor: int | None = None
) -> list[str]:
    """After the restore: the newer session files and the event log come back, marked.
    Returns the ids of the sessions whose newer lines were kept.

    ``event_id_floor`` goes into the note: a log that could not be kept (too large) is the
    checkpoint's, and the bridge numbers its next events above the floor, so no id is used
    twice for two different events."""
    kept: list[str] = []
    restored_files = {entry.name: entry for entry in await files.list(SESSION_DIRECTORY)}
    for relative, copy in taken.sessions.items():
        before = copy.read_bytes()
        restored_entry = restored_files.get(relative.rsplit("/", 1)[-1])
        if restored_entry is not None:
            if not restored_entry.is_file or restored_entry.size >= len(before):
                continue  # the same file, a newer one, or not a file: left alone
            restored = await files.read(relative, len(before) + 1)
            if restored is None or not before.startswith(restored):
                continue  # not an older version of it: left alone
        if before and not before.endswith(b"\n"):
            before += b"\n"  # a line cut short when the bridge stopped stays its own line
        try:
            await files.write(relative, before + marker_entry(before, marker))
        except SpriteError as error:
            logger.warning("restore could not keep %s: %s", relative, error)
            continue
        session_id = _session_id(relative, before)
        if session_id is not None:
            kept.append(session_id)
    if taken.event_log:
        try:
            # The WAL and its index first: one from the checkpoint must never be replayed into
            # the log put back (emptied when there was none), and the log itself last.
            for relative in reversed(EVENT_LOG_FILES):
                spooled = taken.event_log.get(relative)
                await files.write(relative, spooled.read_bytes() if spooled is not None else b"")
        except SpriteError as error:
            logger.warning("restore could not put the event log back: %s", error)
    note: dict[str, object] = {**marker.payload(), "kept_sessions": sorted(kept)}
    if event_id_floor is not None:
        note["event_id_floor"] = event_id_floor
    await files.write(protocol.CHECKPOINT_RESTORE_NOTE, json.dumps(note).encode())
    return sorted(kept)
