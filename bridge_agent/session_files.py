"""Read pi's session files (JSONL, format version 3) without pi running.

pi has no "list sessions" RPC command, so the list comes from the session directory, the way
pi's own ``SessionManager.list()`` does. Files are named ``<iso-ts>_<uuid>.jsonl``, begin with
a ``{"type": "session", "id": …}`` header, and are written lazily (pi 1.x creates one when the
first user message is sent). pi's ``role: "system"`` records are not counted as messages,
and neither are those of other branches: the count is of the path from the last entry (where
pi puts the leaf when it opens the file) to the root, the messages the chat shows.
Summaries are cached by (mtime, size) so listing stays cheap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge_agent import protocol
from bridge_agent.pi_events import is_system_message

SESSION_ID_PATTERN = re.compile(protocol.SESSION_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    id: str
    path: Path
    name: str | None
    created: str | None
    last_activity: str
    message_count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "last_activity": self.last_activity,
            "message_count": self.message_count,
        }


class SessionFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[Path, tuple[tuple[int, int], SessionSummary | None]] = {}

    def list(self) -> list[SessionSummary]:
        """Every readable session, most recently active first."""
        summaries: list[SessionSummary] = []
        if not self.directory.is_dir():
            return summaries
        seen: set[Path] = set()
        for path in self.directory.glob("*.jsonl"):
            seen.add(path)
            summary = self._summary(path)
            if summary is not None:
                summaries.append(summary)
        for stale in set(self._cache) - seen:
            del self._cache[stale]
        summaries.sort(key=lambda s: s.last_activity, reverse=True)
        return summaries

    def find(self, session_id: str) -> SessionSummary | None:
        if not SESSION_ID_PATTERN.match(session_id):
            return None
        for path in self.directory.glob(f"*_{session_id}.jsonl"):
            summary = self._summary(path)
            if summary is not None and summary.id == session_id:
                return summary
        return next((s for s in self.list() if s.id == session_id), None)

    def most_recent(self) -> SessionSummary | None:
        summaries = self.list()
        return summaries[0] if summaries else None

    def _summary(self, path: Path) -> SessionSummary | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        summary = _read_summary(path, stat.st_mtime)
        self._cache[path] = (key, summary)
        return summary


def _read_summary(path: Path, mtime: float) -> SessionSummary | None:
    try:
        with path.open("rb") as handle:
            return summary_from_lines(path, handle, mtime)
    except OSError:
        return None


def summary_from_lines(path: Path, handle: Iterable[bytes], mtime: float) -> SessionSummary | None:
    """The summary of a session file read from ``handle`` (its lines); raises ``OSError``."""
    session_id: str | None = None
    created: str | None = None
    name: str | None = None
    # Each entry's parent, and whether it is a chat message (for the count along the path).
    parents: dict[str, str | None] = {}
    chat_messages: set[str] = set()
    last_entry: str | None = None
    last_timestamp: str | None = None
    for raw in handle:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        entry_type = entry.get("type")
        if entry_type == "session" and session_id is None:
            session_id = str(entry.get("id"))
            created = entry.get("timestamp")
        elif entry_type == "message" and not is_system_message(entry.get("message")):
            chat_messages.add(str(entry.get("id")))
        elif entry_type == "session_info" and entry.get("name"):
            name = str(entry["name"])
        if entry_type != "session" and isinstance(entry.get("id"), str):
            parent = entry.get("parentId")
            parents[entry["id"]] = parent if isinstance(parent, str) else None
            last_entry = entry["id"]
        timestamp = entry.get("timestamp")
        if isinstance(timestamp, str):
            last_timestamp = timestamp
    if session_id is None:
        return None
    message_count = 0
    seen: set[str] = set()
    current = last_entry
    while current is not None and current not in seen:
        seen.add(current)
        message_count += current in chat_messages
        current = parents.get(current)
    file_time = datetime.fromtimestamp(mtime, UTC).isoformat(timespec="milliseconds")
    return SessionSummary(
        id=session_id,
        path=path,
        name=name,
        created=created,
        last_activity=max(last_timestamp or "", file_time.replace("+00:00", "Z")),
        message_count=message_count,
    )
