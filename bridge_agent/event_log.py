"""The durable, numbered event log of one Sprite and its live subscribers.

Every event is appended to a SQLite table in the Sprite's home *before* it is handed to
subscribers, so ids keep increasing across bridge restarts (``AUTOINCREMENT`` never reuses an
id, even after old rows are pruned). The last ``ring_size`` events also stay in memory so the
common reconnect ("I missed a few events") never touches the disk.

All methods run on the event loop thread; an append is a short synchronous SQLite write, which
keeps the ordering argument trivial: an event is numbered, stored and fanned out in one step,
and a subscriber registered in the same step as its replay snapshot can neither miss nor
duplicate an event.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge_agent.protocol import EVENT_RESET

REPLAY_BATCH = 500

# pi's run markers (``protocol.EVENT_AGENT_START``/``EVENT_AGENT_END``), written out: the
# query's condition must be the index's, word for word, for SQLite to use the partial index.
_RUN_MARKERS_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_run_markers ON events (session_id, type, id)"
    " WHERE type IN ('agent_start', 'agent_end')"
)
_OPEN_RUNS = (
    "SELECT session_id,"
    " MAX(CASE WHEN type = 'agent_start' THEN id END),"
    " MAX(CASE WHEN type = 'agent_end' THEN id END)"
    " FROM events WHERE type IN ('agent_start', 'agent_end') GROUP BY session_id"
)


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Event:
    """One envelope: ``{"id", "session_id", "type", "data", "ts"}``."""

    id: int
    session_id: str | None
    type: str
    data: dict[str, Any]
    ts: str

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "type": self.type,
            "data": self.data,
            "ts": self.ts,
        }

    def sse_frame(self) -> bytes:
        return sse_frame(self.id, self.type, encode_json(self.envelope()))


def sse_frame(event_id: int, event_type: str, payload: str) -> bytes:
    return f"id: {event_id}\nevent: {event_type}\ndata: {payload}\n\n".encode()


@dataclass(slots=True)
class _StoredEvent:
    """An event plus its SSE frame, encoded once and shared by every subscriber."""

    event: Event
    frame: bytes


@dataclass(eq=False)
class Subscription:
    """A subscriber's view: an optional ``reset``, the replay, then live frames.

    Live frames wait in a bounded deque. When a subscriber falls ``max_pending`` frames
    behind it is marked overflowed and its stream ends; the client reconnects with
    ``Last-Event-ID`` and catches up from the log. The agent never waits for a reader.
    """

    log: EventLog
    after: int | None
    snapshot_last_id: int
    reset: Event | None
    max_pending: int
    pending: deque[bytes] = field(default_factory=deque)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    closed: bool = False
    keepalive_due: bool = False
    _waiter: asyncio.Future[None] | None = None

    def replay_frames(self) -> Iterator[list[bytes]]:
        """Yield the missed events' frames in batches, oldest first."""
        if self.reset is not None or self.after is None:
            return
        yield from self.log.replay_batches(self.after, self.snapshot_last_id)

    def push(self, frame: bytes) -> None:
        if self.closed:
            return
        if len(self.pending) >= self.max_pending:
            self.overflowed = True
            self.pending.clear()
            self.close()
            return
        self.pending.append(frame)
        self._wake()

    def poke(self) -> None:
        """Ask for a keep-alive: ``next_frames`` returns ``[]`` if nothing else is pending."""
        self.keepalive_due = True
        self._wake()

    def close(self) -> None:
        self.closed = True
        self.ended.set()
        self._wake()

    def _wake(self) -> None:
        # One bare future per wait: the cheapest wake-up asyncio has, which matters when a
        # hundred subscribers are woken for each of a few hundred events a second.
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_frames(self) -> list[bytes] | None:
        """Live frames; ``[]`` when a keep-alive is due; ``None`` once it is over."""
        if not self.pending and not self.closed and not self.keepalive_due:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self.keepalive_due = False
        if self.overflowed:
            return None
        if self.pending:
            frames = list(self.pending)
            self.pending.clear()
            return frames
        return None if self.closed else []


class EventLog:
    """Numbered events: SQLite (WAL) for durability, a ring for fast replay, fan-out to SSE."""

    def __init__(
        self,
        path: Path,
        *,
        ring_size: int = 1000,
        retention: int = 100_000,
        subscriber_queue: int = 1000,
    ) -> None:
        self.path = path
        self.ring_size = ring_size
        self.retention = retention
        self.subscriber_queue = subscriber_queue
        self._ring: deque[_StoredEvent] = deque(maxlen=ring_size)
        self._subscribers: set[Subscription] = set()
        self._connection: sqlite3.Connection | None = None
        self.last_id = 0
        self.first_kept_id: int | None = None
        self._appends_since_prune = 0

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (the case that matters for a bridge);
        # only an OS crash can lose the last commits.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS events ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " session_id TEXT, type TEXT NOT NULL, data TEXT NOT NULL, ts TEXT NOT NULL)"
        )
        # Only the run markers are indexed (a partial index costs nothing on other inserts):
        # finding the runs that never ended, at start, reads the index alone.
        connection.execute(_RUN_MARKERS_INDEX)
        self._connection = connection
        row = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        self.last_id = int(row[0]) if row else 0
        row = connection.execute("SELECT MIN(id) FROM events").fetchone()
        self.first_kept_id = int(row[0]) if row and row[0] is not None else None
        rows = connection.execute(
            "SELECT id, session_id, type, data, ts FROM events ORDER BY id DESC LIMIT ?",
            (self.ring_size,),
        ).fetchall()
        for stored in reversed([self._from_row(r) for r in rows]):
            self._ring.append(stored)

    def close(self) -> None:
        for subscription in list(self._subscribers):
            subscription.close()
        self._subscribers.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # -- writing ---------------------------------------------------------------------------

    def append(self, event_type: str, data: dict[str, Any], session_id: str | None = None) -> Event:
        """Store the event, then hand it to every live subscriber."""
        connection = self._require_connection()
        ts = utc_timestamp()
        encoded = encode_json(data)
        cursor = connection.execute(
            "INSERT INTO events (session_id, type, data, ts) VALUES (?, ?, ?, ?)",
            (session_id, event_type, encoded, ts),
        )
        event_id = int(cursor.lastrowid or 0)
        event = Event(id=event_id, session_id=session_id, type=event_type, data=data, ts=ts)
        stored = _StoredEvent(event=event, frame=event.sse_frame())
        self.last_id = event_id
        if self.first_kept_id is None:
            self.first_kept_id = event_id
        self._ring.append(stored)
        for subscription in list(self._subscribers):
            subscription.push(stored.frame)
            if subscription.closed:
                self._subscribers.discard(subscription)
        self._appends_since_prune += 1
        if self._appends_since_prune >= 1000:
            self._prune()
        return event

    def skip_ids_to(self, floor: int) -> None:
        """Number the next events above ``floor`` (a log restored from a checkpoint must not
        give an id that readers already saw to another event)."""
        if floor <= self.last_id:
            return
        connection = self._require_connection()
        updated = connection.execute(
            "UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'", (floor,)
        ).rowcount
        if not updated:
            connection.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (floor,)
            )
        self.last_id = floor

    def _prune(self) -> None:
        self._appends_since_prune = 0
        oldest_to_keep = self.last_id - self.retention + 1
        if self.first_kept_id is not None and self.first_kept_id < oldest_to_keep:
            self._require_connection().execute("DELETE FROM events WHERE id < ?", (oldest_to_keep,))
            self.first_kept_id = oldest_to_keep

    # -- reading ---------------------------------------------------------------------------

    def subscribe(self, after: int | None) -> Subscription:
        """Register a subscriber; see ``Subscription`` for what it receives.

        ``after=None`` is live-only, ``after=0`` replays everything kept. A cursor older than
        what is kept, or ahead of the log (the home was restored from an older checkpoint),
        starts with a ``reset`` event whose id is the log's last id.
        """
        reset: Event | None = None
        if after is not None and after > 0:
            if after > self.last_id:
                reset = self._reset_event("cursor_ahead_of_log", after)
            elif self.first_kept_id is not None and after + 1 < self.first_kept_id:
                reset = self._reset_event("cursor_older_than_log", after)
            elif self.first_kept_id is None and after < self.last_id:
                reset = self._reset_event("cursor_older_than_log", after)
        subscription = Subscription(
            log=self,
            after=after,
            snapshot_last_id=self.last_id,
            reset=reset,
            max_pending=self.subscriber_queue,
        )
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        self._subscribers.discard(subscription)

    def replay_batches(self, after: int, until: int) -> Iterator[list[bytes]]:
        """Frames of events ``after < id <= until``, from the ring when it covers them."""
        if after >= until:
            return
        if self._ring and self._ring[0].event.id <= after + 1:
            frames = [s.frame for s in self._ring if after < s.event.id <= until]
            for start in range(0, len(frames), REPLAY_BATCH):
                yield frames[start : start + REPLAY_BATCH]
            return
        cursor = after
        while cursor < until:
            rows = (
                self._require_connection()
                .execute(
                    "SELECT id, session_id, type, data, ts FROM events"
                    " WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                    (cursor, until, REPLAY_BATCH),
                )
                .fetchall()
            )
            if not rows:
                return
            batch = [self._from_row(row) for row in rows]
            cursor = batch[-1].event.id
            yield [s.frame for s in batch]

    def events_after(self, after: int, limit: int = 1000) -> list[Event]:
        """Stored events with ``id > after`` (oldest first); used by tests and tools."""
        rows = (
            self._require_connection()
            .execute(
                "SELECT id, session_id, type, data, ts FROM events"
                " WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
            .fetchall()
        )
        return [self._from_row(row).event for row in rows]

    def open_runs(self) -> dict[str, int]:
        """Sessions whose last ``agent_start`` has no ``agent_end`` after it: for each, the
        id of that ``agent_start`` (a run the log says is still going)."""
        rows = self._require_connection().execute(_OPEN_RUNS).fetchall()
        return {
            str(session_id): int(started)
            for session_id, started, ended in rows
            if session_id is not None and started is not None and (ended or 0) < started
        }

    def session_events(self, session_id: str, first_id: int, limit: int = 50_000) -> list[Event]:
        """Stored events of one session with ``id >= first_id`` (oldest first, at most
        ``limit``)."""
        rows = (
            self._require_connection()
            .execute(
                "SELECT id, session_id, type, data, ts FROM events"
                " WHERE id >= ? AND session_id = ? ORDER BY id LIMIT ?",
                (first_id, session_id, limit),
            )
            .fetchall()
        )
        return [self._from_row(row).event for row in rows]

    # -- helpers ---------------------------------------------------------------------------

    def _reset_event(self, reason: str, cursor: int) -> Event:
        return Event(
            id=self.last_id,
            session_id=None,
            type=EVENT_RESET,
            data={
                "reason": reason,
                "cursor": cursor,
                "last_id": self.last_id,
                "first_kept_id": self.first_kept_id,
                "hint": "Reload history from /starter/messages; live events follow.",
            },
            ts=utc_timestamp(),
        )

    def _require_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("the event log is not open")
        return self._connection

    @staticmethod
    def _from_row(row: tuple[Any, ...]) -> _StoredEvent:
        event = Event(
            id=int(row[0]), session_id=row[1], type=str(row[2]), data=json.loads(row[3]), ts=row[4]
        )
        return _StoredEvent(event=event, frame=event.sse_frame())
