"""The control plane's restore note becomes one ``checkpoint_restored`` event, cleaned; a note
the Sprite tampered with is ignored (and removed) rather than trusted."""

from __future__ import annotations

import json
from pathlib import Path

from bridge_agent import protocol
from bridge_agent.event_log import EventLog
from bridge_agent.restore_note import MAX_NOTE_BYTES, announce_restore


def _log(home: Path) -> EventLog:
    log = EventLog(home / ".starter" / "events.db")
    log.open()
    return log


def _note(home: Path, raw: bytes) -> Path:
    path = home / protocol.CHECKPOINT_RESTORE_NOTE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def test_note_becomes_one_event_and_is_removed(tmp_path: Path) -> None:
    log = _log(tmp_path)
    note = {
        "checkpoint_id": "v3",
        "comment": "before the redesign",
        "restored_at": "2026-11-30T15:00:00+00:00",
        "kept_sessions": ["chat-1", "../../etc", 7],
    }
    path = _note(tmp_path, json.dumps(note).encode())
    announce_restore(tmp_path, log)
    announce_restore(tmp_path, log)  # told once
    (event,) = log.events_after(0)
    assert event.type == protocol.EVENT_CHECKPOINT_RESTORED
    assert event.data == {
        "checkpoint_id": "v3",
        "comment": "before the redesign",
        "restored_at": "2026-11-30T15:00:00+00:00",
        "kept_sessions": ["chat-1"],
    }
    assert not path.exists()
    log.close()


def test_garbage_or_huge_notes_are_ignored_and_removed(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for raw in (b"not json", b"[1, 2]", b'{"comment": "' + b"x" * MAX_NOTE_BYTES + b'"}'):
        path = _note(tmp_path, raw)
        announce_restore(tmp_path, log)
        assert not path.exists()
    assert log.events_after(0) == []
    log.close()


def test_floor_moves_the_next_ids_up_and_is_bounded(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append("notify", {"n": 1})
    _note(tmp_path, json.dumps({"checkpoint_id": "v1", "event_id_floor": 500}).encode())
    announce_restore(tmp_path, log)
    assert [event.id for event in log.events_after(0)] == [1, 501]
    assert log.append("notify", {"n": 2}).id == 502
    _note(tmp_path, json.dumps({"checkpoint_id": "v1", "event_id_floor": 2**70}).encode())
    announce_restore(tmp_path, log)
    assert log.events_after(502)[0].id == 2**53
    _note(tmp_path, json.dumps({"checkpoint_id": "v1", "event_id_floor": 3}).encode())
    announce_restore(tmp_path, log)  # never backwards
    assert log.events_after(2**53)[0].id == 2**53 + 1
    log.close()
