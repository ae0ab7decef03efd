"""No background task of the bridge dies in silence: each one that fails is logged at ERROR
with its name (issue: a relay, consumer or bridge task must never die without a trace)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bridge_agent.app_target import AppTarget
from bridge_agent.concurrency import watched_task
from bridge_agent.config import BridgeConfig
from bridge_agent.event_log import EventLog
from bridge_agent.sessions import SessionManager

logger = logging.getLogger("tests.bridge_agent.task_deaths")


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_task_that_raises_is_logged_at_error_by_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = watched_task(fails(), name="doomed-reader", logger=logger, forever=True)
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert "task doomed-reader died" in error_lines(caplog)


async def test_a_forever_task_that_returns_is_logged_and_a_cancelled_one_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def returns() -> None:
        return None

    await watched_task(returns(), name="quitter", logger=logger, forever=True)
    await watched_task(returns(), name="one-shot", logger=logger, forever=False)
    sleeper = watched_task(asyncio.sleep(60), name="sleeper", logger=logger, forever=True)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    await asyncio.sleep(0)
    lines = error_lines(caplog)
    assert any("task quitter stopped" in line for line in lines)
    assert not any("one-shot" in line or "sleeper" in line for line in lines)


class _Poisoned:
    """A live session whose state cannot be read: what a bug in the reaper's loop meets."""

    @property
    def last_used(self) -> float:
        raise RuntimeError("corrupt session record")


async def test_the_session_reaper_dying_is_logged_at_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = BridgeConfig(home=tmp_path, token="t" * 32, idle_timeout=0.8, prewarm=False, env={})
    log = EventLog(tmp_path / "events.db")
    log.open()
    manager = SessionManager(config, log, AppTarget(tmp_path / "state.json", 3000, log))
    await manager.start()
    try:
        manager.live["poisoned"] = _Poisoned()  # type: ignore[assignment]
        await asyncio.sleep(0.6)  # the reaper looks every 0.2 s
        assert "task session-reaper died" in error_lines(caplog)
    finally:
        manager.live.clear()
        await manager.close()
        log.close()
