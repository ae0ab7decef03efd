"""A loop that sleeps on an event stops when its task is cancelled, even if the event is set
at that same moment (Python 3.11's wait_for swallowed that cancellation: a relay feed's stop
then waited forever)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bridge_agent.concurrency import wait_or_timeout


async def _loop_cancelled_as_woken(sleep: Callable[[asyncio.Event], Awaitable[object]]) -> bool:
    """Cancel a task looping on ``sleep`` in the same step as its event is set; True when
    the task ended."""
    event = asyncio.Event()

    async def loop_forever() -> None:
        while True:
            event.clear()
            await sleep(event)

    task = asyncio.create_task(loop_forever())
    await asyncio.sleep(0.05)
    event.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    if not done:
        task.cancel()  # the old pattern: cancelled again, it now sleeps at a plain wait
        await asyncio.wait([task], timeout=2)
    return bool(done)


async def test_a_cancel_that_meets_the_event_still_ends_the_loop() -> None:
    assert await _loop_cancelled_as_woken(lambda event: wait_or_timeout(event, 5))


async def test_the_old_wait_for_pattern_loses_that_cancel_on_this_python() -> None:
    """Why wait_or_timeout exists: this fails once Python's wait_for no longer swallows it
    (3.12 rewrote it), and then the helper could go."""

    async def old(event: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(event.wait(), 5)
        except TimeoutError:
            pass

    assert not await _loop_cancelled_as_woken(old)


@pytest.mark.parametrize(("set_it", "expected"), [(True, True), (False, False)])
async def test_it_answers_whether_the_event_came(set_it: bool, expected: bool) -> None:
    event = asyncio.Event()
    if set_it:
        asyncio.get_running_loop().call_later(0.05, event.set)
    assert await wait_or_timeout(event, 0.3) is expected
