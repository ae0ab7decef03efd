"""What the relay puts on the wire: Redis key names, the pub/sub payload, websocket frames.

Bridge events keep the bridge's own JSON text from the SSE stream to the websocket: a frame
is built around those bytes, never by decoding and re-encoding them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from django.conf import settings

# A batch frame holds at most this many events, or about this many bytes of them: a
# browser that fell far behind gets its backlog in a few frames, none of them huge.
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 512 * 1024


def _key(kind: str, public_id: str) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:relay:{kind}:{public_id}"


def lock_key(public_id: str) -> str:
    return _key("lock", public_id)


def cursor_key(public_id: str) -> str:
    return _key("cursor", public_id)


def connects_key(public_id: str) -> str:
    """How many upstream streams were opened for the project (for tests and the benchmark)."""
    return _key("connects", public_id)


def events_channel(public_id: str) -> str:
    return _key("events", public_id)


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One bridge event as it came off the wire: its envelope JSON is kept as text."""

    id: int
    type: str
    data: str


def published_payload(events: Sequence[SseEvent], previous_id: int | None) -> str:
    """One pub/sub message for events read together, in order.

    Each event is a record ``<previous id or -> <id> <type> <length>`` + newline + its data
    (``length`` characters); an event's previous id is the one before it in the message,
    the first one's is ``previous_id``.
    """
    records: list[str] = []
    previous = previous_id
    for event in events:
        marker = "-" if previous is None else str(previous)
        records.append(f"{marker} {event.id} {event.type} {len(event.data)}\n{event.data}")
        previous = event.id
    return "".join(records)


def parse_published(payload: str) -> list[tuple[int | None, SseEvent]]:
    """The events of a pub/sub message, each with the ``previous_id`` it names."""
    items: list[tuple[int | None, SseEvent]] = []
    position = 0
    while position < len(payload):
        newline = payload.index("\n", position)
        previous, event_id, rest = payload[position:newline].split(" ", 2)
        event_type, length = rest.rsplit(" ", 1)
        end = newline + 1 + int(length)
        if end > len(payload):
            raise ValueError("a published event is cut short")
        event = SseEvent(int(event_id), event_type, payload[newline + 1 : end])
        items.append((None if previous == "-" else int(previous), event))
        position = end
    return items


_LINE_END = re.compile(r"\r\n|\r|\n")


class SseParser:
    """Turns the text of an event stream, in chunks as it arrives, into whole events.

    The bridge writes ``id``, ``event`` and one ``data`` line (compact JSON) per event;
    comments and ``retry`` are skipped.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._id: int | None = None
        self._type = "message"
        self._data: list[str] = []

    def feed(self, text: str) -> list[SseEvent]:
        buffer = self._pending + text
        events: list[SseEvent] = []
        position = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == "\r" and match.end() == len(buffer):
                break  # perhaps the first half of a CRLF: wait for the next chunk
            self._line(buffer[position : match.start()], events)
            position = match.end()
        self._pending = buffer[position:]
        return events

    def _line(self, line: str, events: list[SseEvent]) -> None:
        if line == "":
            if self._data and self._id is not None:
                events.append(SseEvent(self._id, self._type, "\n".join(self._data)))
            self._id, self._type, self._data = None, "message", []
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = int(value)
        elif name == "event":
            self._type = value


def events_frame(events: Sequence[SseEvent]) -> str:
    """One websocket frame for events in order: ``event`` for one, ``events`` for several."""
    if len(events) == 1:
        return '{"kind":"event","event":' + events[0].data + "}"
    return '{"kind":"events","events":[' + ",".join(event.data for event in events) + "]}"


def relay_frame(state: str) -> str:
    return json.dumps({"kind": "relay", "state": state})


def lifecycle_frame(payload: dict[str, Any]) -> str:
    return json.dumps({"kind": "lifecycle", "payload": payload}, separators=(",", ":"))


class PublishedBatch:
    """Events that reached this process together, with the ``previous_id`` each named.

    ``seamless`` says that, read in order, nothing inside the batch skips anything or goes
    back (no ``reset``, ids rising, each ``previous_id`` at most the id before it): a viewer
    level with the first event can take the whole batch as one shared frame, built once.
    """

    __slots__ = ("_frame", "items", "seamless")

    def __init__(self, items: list[tuple[SseEvent, int | None]]) -> None:
        self.items = items
        self._frame: str | None = None
        self.seamless = all(event.type != "reset" for event, _ in items) and all(
            event.id > before.id and (previous is None or previous <= before.id)
            for (before, _), (event, previous) in pairwise(items)
        )

    @property
    def first_id(self) -> int:
        return self.items[0][0].id

    @property
    def first_previous_id(self) -> int | None:
        return self.items[0][1]

    @property
    def last_id(self) -> int:
        return self.items[-1][0].id

    @property
    def frame(self) -> str:
        if self._frame is None:
            self._frame = events_frame([event for event, _ in self.items])
        return self._frame
