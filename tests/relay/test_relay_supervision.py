"""The relay's tasks in one process, against the real Redis and channel layer: none of them can
die silently, and one failing socket costs only itself.

Each test breaks one task from inside (an unexpected exception where it reads) and checks
that the ERROR line names the task and that the task reads again afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.layers import get_channel_layer

from projects.bridge.events import SseEvent
from projects.broadcast import project_group, relay_state_message
from projects.relay.feed import ProjectFeed, RelayHub
from projects.relay.wire import PublishedBatch, events_channel, published_payload

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingViewer:
    """A viewer of the feed that keeps what it was handed; ``fail`` makes its sends raise as
    a closing websocket's do."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.ids: list[int] = []
        self.frames: list[str] = []
        self.resyncs = 0
        self.arrived = asyncio.Event()

    async def deliver_events(self, batch: PublishedBatch) -> None:
        if self.fail:
            raise RuntimeError("Attempt to send on a closed protocol")
        self.ids.extend(event.id for event, _ in batch.items)
        self.arrived.set()

    async def deliver_frame(self, frame: str) -> None:
        if self.fail:
            raise RuntimeError("Attempt to send on a closed protocol")
        self.frames.append(frame)
        self.arrived.set()

    def resync(self) -> None:
        self.resyncs += 1


def _event(event_id: int) -> SseEvent:
    return SseEvent(event_id, "message_update", f'{{"id":{event_id},"type":"message_update"}}')


@pytest.fixture
async def hub() -> AsyncIterator[RelayHub]:
    relay_hub = RelayHub(linger_seconds=60)
    try:
        yield relay_hub
    finally:
        try:
            await asyncio.wait_for(relay_hub.close(), 20)
        except TimeoutError:
            for task in asyncio.all_tasks():
                task.print_stack()
            raise


async def _publish(hub: RelayHub, public_id: str, event_id: int) -> None:
    await hub.redis.publish(
        events_channel(public_id), published_payload([_event(event_id)], event_id - 1)
    )


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _fail_once(original: Callable[..., Any]) -> Callable[..., Any]:
    calls = {"n": 0}

    async def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected fault")
        return await original(*args, **kwargs)

    return failing


def _error_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and name in record.getMessage()
    ]


async def test_a_viewer_whose_send_fails_is_dropped_and_the_others_go_on(hub: RelayHub) -> None:
    public_id = f"sup{uuid.uuid4().hex[:10]}"
    closing, watching = RecordingViewer(fail=True), RecordingViewer()
    feed = await hub.join(public_id, closing)
    await hub.join(public_id, watching)
    for event_id in (1, 2, 3):
        await _publish(hub, public_id, event_id)
    await _until(lambda: watching.ids == [1, 2, 3])
    assert feed.viewers == {watching}


async def test_a_pubsub_reader_that_dies_is_logged_by_name_and_reads_again(
    hub: RelayHub, caplog: pytest.LogCaptureFixture
) -> None:
    public_id = f"sup{uuid.uuid4().hex[:10]}"
    viewer = RecordingViewer()
    feed = await hub.join(public_id, viewer)
    feed.pubsub.get_message = _fail_once(feed.pubsub.get_message)
    await _publish(hub, public_id, 1)  # wakes the reader, which dies on the injected fault
    await _until(lambda: bool(_error_lines(caplog, f"relay-events-{public_id}")))
    await _until(lambda: feed.pubsub is not None and feed.pubsub.get_message.__name__ != "failing")
    await _publish(hub, public_id, 2)
    await _until(lambda: 2 in viewer.ids)
    # Event 1 died with the reader: the viewers were told to catch up from the bridge.
    assert viewer.resyncs == 1


async def test_a_channel_layer_reader_that_dies_is_logged_by_name_and_reads_again(
    hub: RelayHub, caplog: pytest.LogCaptureFixture
) -> None:
    public_id = f"sup{uuid.uuid4().hex[:10]}"
    viewer = RecordingViewer()
    layer = hub.layer
    original = layer.receive
    failing = _fail_once(original)
    layer.receive = failing
    try:
        await hub.join(public_id, viewer)
        await _until(lambda: bool(_error_lines(caplog, f"relay-feed-{public_id}")))
        await layer.group_send(project_group(public_id), relay_state_message("upstream_down"))
        await _until(lambda: any("upstream_down" in frame for frame in viewer.frames))
    finally:
        layer.receive = original


async def test_an_upstream_candidate_that_dies_is_logged_by_name_and_runs_again(
    hub: RelayHub, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    public_id = f"sup{uuid.uuid4().hex[:10]}"
    from projects.relay.upstream import UpstreamCandidate

    attempts: list[str] = []
    original = UpstreamCandidate._take_lock

    async def take_lock(self: UpstreamCandidate) -> bool:
        attempts.append(self.public_id)
        if len(attempts) == 1:
            raise RuntimeError("injected fault")
        return await original(self)

    monkeypatch.setattr(UpstreamCandidate, "_take_lock", take_lock)
    viewer = RecordingViewer()
    feed: ProjectFeed = await hub.join(public_id, viewer)
    await _until(lambda: bool(_error_lines(caplog, f"relay-upstream-{public_id}")))
    # Restarted: it takes the (free) lock and, the project being unknown, says so.
    await _until(lambda: feed.upstream.holding, timeout=10)
    await _until(lambda: any("sprite_not_running" in frame for frame in viewer.frames))


async def test_the_home_socket_reader_that_dies_is_logged_by_name_and_reads_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from channels.testing import WebsocketCommunicator

    from projects.broadcast import user_group
    from projects.relay.consumers import HomeConsumer

    class Person:
        pk = 987654
        is_authenticated = True

    layer: Any = get_channel_layer()
    original = layer.receive
    layer.receive = _fail_once(original)
    communicator = WebsocketCommunicator(HomeConsumer.as_asgi(), "/ws/home/")
    communicator.scope["user"] = Person()
    try:
        connected, _ = await communicator.connect()
        assert connected
        await _until(lambda: bool(_error_lines(caplog, f"relay-home-{Person.pk}")))
        payload = {"public_id": "p", "status": "running"}
        await layer.group_send(
            user_group(Person.pk), {"type": "lifecycle.update", "payload": payload}
        )
        frame = await communicator.receive_json_from(timeout=10)
        assert frame == {"kind": "lifecycle", "payload": payload}
    finally:
        layer.receive = original
        await communicator.disconnect()
