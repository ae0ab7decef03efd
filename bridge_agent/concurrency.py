"""Running several coroutines until the first of them ends.

A stream being copied, a client's disconnect, a keep-alive, a shutdown: whichever comes first
ends the work, and the others must then be cancelled and awaited, never left pending. Used by
the bridge and by the control plane's relay and preview proxy (this package runs without
Django, so the control plane can import it, not the other way round).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any


async def until_first_done(*coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run ``coroutines`` together until one ends; cancel the others and wait for them.

    Returns what each one returned or raised (``CancelledError`` for those cancelled), in the
    order given; nothing is raised from them here.
    """
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    return list(results)


async def wait_or_timeout(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True when it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives while
    the event is being set (it returns the event's result instead), so a loop sleeping on it
    never ends when its task is cancelled, and whoever awaits that task waits forever (a
    relay feed's stop hung on this in CI). ``asyncio.timeout`` tells the two apart.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


def watched_task(
    coroutine: Coroutine[Any, Any, None], *, name: str, logger: logging.Logger, forever: bool
) -> asyncio.Task[None]:
    """A background task whose death is never silent: an exception is logged at ERROR with
    the task's name and traceback, and so is a ``forever`` task that returns. Its owner still
    cancels and awaits it; a cancellation is not a death."""
    task = asyncio.create_task(coroutine, name=name)

    def report(done: asyncio.Task[None]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            logger.error("task %s died", name, exc_info=error)
        elif forever:
            logger.error("task %s stopped, though it should run until the bridge stops", name)

    task.add_done_callback(report)
    return task
