"""Listens, from the test process, to what a project's upstream holder publishes."""

from __future__ import annotations

import threading

from projects.bridge.events import SseEvent
from projects.relay.wire import events_channel, parse_published
from starter.redis import redis_client


class PublishedEvents:
    """Keeps every event published for a project, with the ``previous_id`` it named."""

    def __init__(self, public_id: str) -> None:
        self.published: list[tuple[int | None, SseEvent]] = []
        self._pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(events_channel(public_id))
        self._pubsub.get_message(timeout=5)  # the subscription is confirmed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                self.published.extend(parse_published(message["data"].decode()))

    def stop(self) -> list[tuple[int | None, SseEvent]]:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()
        return list(self.published)
