"""What the relay puts on the wire: Redis key names, the pub/sub payload, websocket frames.

Bridge events keep the bridge's own JSON text from the SSE stream to the websocket: a frame
is built around those bytes, never by decoding and re-encoding them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise

from django.conf import settings

from projects.bridge.events import NOT_RUNNING, SseEvent
from projects.broadcast import LifecyclePayload, RelayState
from projects.errors import BridgeError

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


def state_key(public_id: str) -> str:
    """The relay state the upstream holder last told viewers (read by a feed that joins or
    rejoins the group, which may have missed the ``relay.state`` message)."""
    return _key("state", public_id)


def alive_channel(token: str) -> str:
    """A pub/sub channel an upstream candidate's process stays subscribed to while it runs:
    Redis drops the subscription the moment that process's connection closes, so no
    subscriber means the lock's holder is gone (projects/relay/upstream.py)."""
    return f"{settings.STARTER_REDIS_PREFIX}:relay:alive:{token}"


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


def events_frame(events: Sequence[SseEvent]) -> str:
    """One websocket frame for events in order: ``event`` for one, ``events`` for several."""
    if len(events) == 1:
        return '{"kind":"event","event":' + events[0].data + "}"
    return '{"kind":"events","events":[' + ",".join(event.data for event in events) + "]}"


def relay_frame(state: str) -> str:
    return json.dumps({"kind": "relay", "state": state})


def unavailable_state(error: BridgeError) -> RelayState:
    """The relay state a failure to reach the bridge's event stream shows to viewers."""
    return "sprite_not_running" if error.code == NOT_RUNNING else "upstream_down"


def gateway_frame(payload: dict[str, object]) -> str:
    return json.dumps({"kind": "gateway", "payload": payload}, separators=(",", ":"))


def author_frame(session_id: str, text: str, author: str) -> str:
    return json.dumps(
        {"kind": "author", "session_id": session_id, "text": text, "author": author},
        separators=(",", ":"),
    )


def lifecycle_frame(payload: LifecyclePayload) -> str:
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
