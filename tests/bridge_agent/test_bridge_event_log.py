"""The durable event log: numbering, replay from a cursor, resets, slow subscribers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bridge_agent.event_log import EventLog


def frames_to_ids(frames: list[bytes]) -> list[int]:
    ids = []
    for frame in frames:
        for block in frame.decode().split("\n\n"):
            for line in block.splitlines():
                if line.startswith("data: "):
                    ids.append(json.loads(line[6:])["id"])
    return ids


def replayed_ids(log: EventLog, after: int | None) -> list[int]:
    subscription = log.subscribe(after)
    ids = [i for batch in subscription.replay_frames() for i in frames_to_ids(batch)]
    log.unsubscribe(subscription)
    return ids


def open_log(path: Path, **options: int) -> EventLog:
    log = EventLog(path, **options)
    log.open()
    return log


def test_ids_are_consecutive_and_continue_after_reopening(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db")
    first = [log.append("notify", {"n": n}, "s1").id for n in range(5)]
    log.close()
    reopened = open_log(tmp_path / "events.db")
    later = reopened.append("notify", {"n": 5}).id
    assert first == [1, 2, 3, 4, 5]
    assert later == 6
    assert [e.data["n"] for e in reopened.events_after(0)] == [0, 1, 2, 3, 4, 5]


def test_ids_are_never_reused_after_pruning(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db", retention=10)
    for n in range(1200):
        log.append("tick", {"n": n})
    log.close()
    reopened = open_log(tmp_path / "events.db", retention=10)
    assert reopened.first_kept_id is not None and reopened.first_kept_id > 1
    assert reopened.append("tick", {}).id == 1201


def test_replay_returns_exactly_the_events_after_the_cursor(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db", ring_size=10)
    for n in range(50):
        log.append("tick", {"n": n})
    assert replayed_ids(log, 45) == [46, 47, 48, 49, 50]  # from the ring
    assert replayed_ids(log, 7) == list(range(8, 51))  # older than the ring: from SQLite
    assert replayed_ids(log, 50) == []


def test_after_zero_replays_everything_kept_and_no_cursor_replays_nothing(
    tmp_path: Path,
) -> None:
    log = open_log(tmp_path / "events.db", ring_size=10)
    for n in range(30):
        log.append("tick", {"n": n})
    assert replayed_ids(log, 0) == list(range(1, 31))
    assert replayed_ids(log, None) == []


def test_cursor_ahead_of_the_log_gets_a_reset(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db")
    for n in range(3):
        log.append("tick", {"n": n})
    subscription = log.subscribe(after=99)
    assert subscription.reset is not None
    assert subscription.reset.type == "reset"
    assert subscription.reset.data["reason"] == "cursor_ahead_of_log"
    assert subscription.reset.id == 3
    assert list(subscription.replay_frames()) == []


def test_cursor_older_than_what_is_kept_gets_a_reset(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db", retention=100, ring_size=10)
    for n in range(1100):
        log.append("tick", {"n": n})
    assert log.first_kept_id == 901  # pruned on the 1000th append
    old = log.subscribe(after=5)
    assert old.reset is not None and old.reset.data["reason"] == "cursor_older_than_log"
    assert replayed_ids(log, 900) == list(range(901, 1101))


async def test_live_events_follow_the_replay_without_gap_or_duplicate(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db")
    for n in range(3):
        log.append("tick", {"n": n})
    subscription = log.subscribe(after=1)
    log.append("tick", {"n": 3})
    replay = [i for batch in subscription.replay_frames() for i in frames_to_ids(batch)]
    live = await subscription.next_frames()
    assert live is not None
    assert replay + frames_to_ids(live) == [2, 3, 4]


async def test_quiet_stream_wakes_up_for_a_keepalive(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db")
    subscription = log.subscribe(after=None)
    waiting = asyncio.create_task(subscription.next_frames())
    await asyncio.sleep(0.01)
    subscription.poke()
    assert await waiting == []


async def test_slow_subscriber_is_dropped_and_never_blocks_appends(tmp_path: Path) -> None:
    log = open_log(tmp_path / "events.db", subscriber_queue=5)
    slow = log.subscribe(after=None)
    fast = log.subscribe(after=None)
    for n in range(4):
        log.append("tick", {"n": n})
    assert frames_to_ids(await fast.next_frames() or []) == [1, 2, 3, 4]
    for n in range(4, 9):
        log.append("tick", {"n": n})  # never waits for the slow reader
    assert slow.overflowed and slow.ended.is_set()
    assert await slow.next_frames() is None
    assert frames_to_ids(await fast.next_frames() or []) == [5, 6, 7, 8, 9]
    assert log.subscriber_count == 1
    # The dropped reader reconnects with its last id and misses nothing.
    assert replayed_ids(log, 0)[:4] == [1, 2, 3, 4]
    assert replayed_ids(log, 4) == [5, 6, 7, 8, 9]
    await asyncio.sleep(0)
