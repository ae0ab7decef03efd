"""Bringing new environment values to the pi processes without costing anyone their work.

pi reads its environment once, when it starts, so a new value reaches it only through a new
process; a session's history lives in pi's session file, so a restarted process resumes the
conversation where it was (as after the idle reaper). A session with nothing going on is
restarted at once; a busy one (a run between ``agent_start`` and ``agent_settled``, or a
command waiting for pi's answer) keeps its process until it is idle, and is restarted right
after its run settles, never during it (or before a command needs it, whichever comes
first). A pi process that was starting when the values changed is treated like a busy one.
``environment_changed`` events say when new values apply: ``after_run`` for the sessions
still busy, then ``now`` from each one that restarted (``SessionManager.refresh_environment``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from bridge_agent.concurrency import watched_task
from bridge_agent.live_session import LiveSession
from bridge_agent.sessions import SessionManager

logger = logging.getLogger("bridge_agent.environment")

# How often sessions still waiting are looked at (one whose last command answered, say),
# besides right after each settled run.
PENDING_CHECK_INTERVAL = 1.0


class EnvironmentRestarts:
    def __init__(self, sessions: SessionManager) -> None:
        self.sessions = sessions
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._closing = False
        sessions.on_settled = self._settled

    def start(self) -> None:
        self._spawn(self._watch_pending(), "environment-pending", forever=True)

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def apply(self, names: list[str]) -> list[str]:
        """New values of ``names`` are in place: restart the idle sessions' pi now, mark the
        busy ones. Returns the ids of the sessions still busy, sorted."""
        pending: list[str] = []
        async with self._lock:
            for live in list(self.sessions.live.values()):
                live.stale_environment.update(names)
                if not await self.sessions.refresh_environment(live, announce=False):
                    pending.append(live.session_id)
        return sorted(pending)

    def _settled(self, live: LiveSession) -> None:
        if live.stale_environment and not self._closing:
            self._spawn(self._after_run(live), f"environment-restart-{live.session_id}")

    async def _after_run(self, live: LiveSession) -> None:
        async with self._lock:
            await self.sessions.refresh_environment(live, announce=True)

    async def _watch_pending(self) -> None:
        while True:
            await asyncio.sleep(PENDING_CHECK_INTERVAL)
            async with self._lock:
                for live in list(self.sessions.live.values()):
                    if live.stale_environment:
                        await self.sessions.refresh_environment(live, announce=True)

    def _spawn(
        self, coroutine: Coroutine[Any, Any, None], name: str, forever: bool = False
    ) -> None:
        task = watched_task(coroutine, name=name, logger=logger, forever=forever)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
