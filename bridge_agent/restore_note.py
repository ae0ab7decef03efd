"""The control plane's note that a checkpoint was restored while the bridge was stopped.

The control plane writes ``protocol.CHECKPOINT_RESTORE_NOTE`` into the home (with the session
files and the event log of before the restore put back); the bridge, when it starts, turns it
into one ``checkpoint_restored`` event and removes it, so the note is told once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from bridge_agent import protocol
from bridge_agent.event_log import EventLog

logger = logging.getLogger("bridge_agent")

MAX_NOTE_BYTES = 64 * 1024
MAX_TEXT_CHARS = 300
# Ids stay exact integers in every reader (JavaScript's Number included).
MAX_EVENT_ID = 2**53 - 1
_SESSION_ID = re.compile(protocol.SESSION_ID_PATTERN)


def _text(value: Any) -> str:
    return value[:MAX_TEXT_CHARS] if isinstance(value, str) else ""


def event_id_floor(note: dict[str, Any]) -> int | None:
    floor = note.get("event_id_floor")
    if isinstance(floor, bool) or not isinstance(floor, int) or floor < 0:
        return None
    return min(floor, MAX_EVENT_ID)


def read_note(path: Path) -> dict[str, Any] | None:
    """The note's payload, cleaned; None when there is none or it is unreadable."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_NOTE_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_NOTE_BYTES:
        return None
    try:
        note = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(note, dict):
        return None
    sessions = note.get("kept_sessions")
    kept = (
        [s for s in sessions if isinstance(s, str) and _SESSION_ID.match(s)]
        if isinstance(sessions, list)
        else []
    )
    return {
        "event_id_floor": event_id_floor(note),
        "checkpoint_id": _text(note.get("checkpoint_id")),
        "comment": _text(note.get("comment")),
        "restored_at": _text(note.get("restored_at")),
        "kept_sessions": kept[:1000],
    }


def announce_restore(home: Path, log: EventLog) -> None:
    """Write the ``checkpoint_restored`` event if a note is waiting, then remove the note."""
    path = home / protocol.CHECKPOINT_RESTORE_NOTE
    if not path.exists():
        return
    payload = read_note(path)
    with contextlib.suppress(OSError):
        path.unlink()
    if payload is None:
        logger.warning("ignored an unreadable checkpoint restore note")
        return
    floor = payload.pop("event_id_floor")
    if floor is not None:
        log.skip_ids_to(floor)
    log.append(protocol.EVENT_CHECKPOINT_RESTORED, payload)
