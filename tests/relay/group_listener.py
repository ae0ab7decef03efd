"""Listens to a project's channel group from the test process, on a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from channels_redis.core import RedisChannelLayer
from django.conf import settings

from projects.broadcast import project_group


class GroupListener:
    """Keeps every ``bridge.event`` message published to ``project.<public_id>``."""

    def __init__(self, public_id: str) -> None:
        self.group = project_group(public_id)
        self.messages: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._listen(),), daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the group listener did not start")

    async def _listen(self) -> None:
        layer = RedisChannelLayer(hosts=[settings.REDIS_URL])
        channel = await layer.new_channel("test-listener")
        await layer.group_add(self.group, channel)
        self._stop = asyncio.Event()
        self._ready.set()
        stop = asyncio.create_task(self._stop.wait())
        try:
            while True:
                receive = asyncio.create_task(layer.receive(channel))
                done, _ = await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    return
                message = receive.result()
                if message.get("type") == "bridge.event":
                    self.messages.append(message)
        finally:
            await layer.group_discard(self.group, channel)

    def stop(self) -> list[dict[str, Any]]:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        return list(self.messages)
