"""How a viewer's socket turns the feed's batches into frames (no live stack needed).

The feed hands every viewer what reached the process together; the consumer sends it as one
frame when the socket is level with it, and falls back to event-by-event checks otherwise.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from projects.bridge.events import SseEvent, SseParser
from projects.relay.consumers import ProjectEventsConsumer
from projects.relay.wire import (
    PublishedBatch,
    events_frame,
    parse_published,
    published_payload,
)


def _event(event_id: int, event_type: str = "message_update") -> SseEvent:
    envelope = {"id": event_id, "session_id": "s", "type": event_type, "data": {}, "ts": "t"}
    return SseEvent(event_id, event_type, json.dumps(envelope, separators=(",", ":")))


def _batch(*items: tuple[int, int | None]) -> PublishedBatch:
    return PublishedBatch([(_event(event_id), previous) for event_id, previous in items])


class RecordingConsumer(ProjectEventsConsumer):
    """The consumer with its websocket replaced by a list of frames."""

    def __init__(self, last_sent: int | None) -> None:
        self.public_id = "p"
        self.last_sent = last_sent
        self.last_reset = None
        self.catching_up = False
        self.buffer = deque()
        self.catch_up_task = None
        self.closing = False
        self.frames: list[dict[str, Any]] = []
        self.catch_ups: list[int] = []

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        assert text_data is not None
        self.frames.append(json.loads(text_data))

    def _start_catch_up(self, after: int) -> None:
        self.catch_ups.append(after)

    @property
    def sent_ids(self) -> list[int]:
        ids: list[int] = []
        for frame in self.frames:
            events = [frame["event"]] if frame["kind"] == "event" else frame["events"]
            ids.extend(event["id"] for event in events)
        return ids


def test_one_event_keeps_the_single_event_frame() -> None:
    assert json.loads(events_frame([_event(7)])) == {
        "kind": "event",
        "event": {"id": 7, "session_id": "s", "type": "message_update", "data": {}, "ts": "t"},
    }


async def test_events_that_arrived_together_go_out_in_one_frame_in_order() -> None:
    viewer = RecordingConsumer(last_sent=10)
    await viewer.deliver_events(_batch((11, 10), (12, 11), (13, 12)))
    assert [frame["kind"] for frame in viewer.frames] == ["events"]
    assert viewer.sent_ids == [11, 12, 13]
    assert viewer.last_sent == 13


async def test_viewers_level_with_a_batch_share_the_frame_built_once() -> None:
    batch = _batch((11, 10), (12, 11))
    first, second = RecordingConsumer(last_sent=10), RecordingConsumer(last_sent=10)
    await first.deliver_events(batch)
    await second.deliver_events(batch)
    assert first.frames == second.frames
    assert batch.frame is batch.frame


async def test_events_already_sent_are_left_out_of_the_frame() -> None:
    viewer = RecordingConsumer(last_sent=12)  # it got 11 and 12 from a replay
    await viewer.deliver_events(_batch((11, 10), (12, 11), (13, 12), (14, 13)))
    assert viewer.sent_ids == [13, 14]


async def test_a_gap_inside_a_batch_sends_what_came_before_then_catches_up() -> None:
    viewer = RecordingConsumer(last_sent=10)
    # 13 says 12 came before it, which never reached this process.
    await viewer.deliver_events(_batch((11, 10), (13, 12), (14, 13)))
    assert viewer.sent_ids == [11]
    assert viewer.catch_ups == [11]
    assert viewer.catching_up
    assert [event.id for event, _ in viewer.buffer] == [13, 14]


async def test_a_catching_up_viewer_buffers_batches_and_flushes_them_in_one_frame() -> None:
    viewer = RecordingConsumer(last_sent=10)
    viewer.catching_up = True
    await viewer.deliver_events(_batch((11, 10), (12, 11)))
    await viewer.deliver_events(_batch((13, 12)))
    assert viewer.frames == []
    assert not await viewer._flush_buffer()
    assert viewer.sent_ids == [11, 12, 13]
    assert len(viewer.frames) == 1


async def test_a_live_only_viewer_takes_batches_whole() -> None:
    viewer = RecordingConsumer(last_sent=None)
    await viewer.deliver_events(_batch((5, 4), (6, 5)))
    await asyncio.sleep(0)
    assert viewer.sent_ids == [5, 6]


def test_a_published_message_carries_events_read_together_with_their_previous_ids() -> None:
    events = [_event(4), _event(5, "tool_end"), _event(6)]
    assert parse_published(published_payload(events, 3)) == [
        (3, events[0]),
        (4, events[1]),
        (5, events[2]),
    ]
    assert parse_published(published_payload(events[:1], None)) == [(None, events[0])]


def test_the_stream_parser_gives_whole_events_however_the_text_is_cut() -> None:
    text = (
        'id: 1\nevent: a\ndata: {"t":"x\u2028y"}\n\n'
        ": keep-alive\n\n"
        "id: 2\r\nevent: b\r\ndata: {}\r\n\r\n"
    )
    parser = SseParser()
    events = [event for index in range(len(text)) for event in parser.feed(text[index])]
    assert events == [SseEvent(1, "a", '{"t":"x\u2028y"}'), SseEvent(2, "b", "{}")]
    assert SseParser().feed(text) == events
