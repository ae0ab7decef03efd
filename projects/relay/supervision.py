"""Keeping the relay's long-lived tasks alive: what a Redis failure looks like, how long to
wait before trying again, and the loop that restarts a task whatever ends it.

Every reader of the relay (a feed's channel-layer and pub/sub readers, its upstream
candidate, the home screen's receiver) runs under ``supervise``: nothing but cancellation
ends it. A Redis outage is expected (a restart, a failover, a network cut): it is logged at
WARNING and retried with backoff and jitter, so the processes of a deployment do not all
reconnect in the same millisecond. Anything else is a bug: it is logged at ERROR with the
task's name and the traceback, and the task is run again (after a pause, so a bug that
fails at once cannot spin the loop).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import redis.exceptions

logger = logging.getLogger(__name__)

# What a lost or unreachable Redis raises, through redis-py (its own ConnectionError and
# TimeoutError are not the builtins) or the socket underneath (OSError covers the builtin
# ConnectionError and TimeoutError).
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)

BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0
CRASH_PAUSE_SECONDS = 1.0


def backoff_delay(
    failures: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS
) -> float:
    """Seconds to wait after ``failures`` failures in a row (0 for the first retry's base):
    doubling from ``base`` up to ``cap``, each drawn from its upper half (jitter)."""
    ceiling = min(cap, base * (2 ** min(failures, 16)))
    return random.uniform(ceiling / 2, ceiling)


OnFailure = Callable[[BaseException], Awaitable[None]]


async def supervise(
    name: str,
    body: Callable[[], Awaitable[None]],
    *,
    on_failure: OnFailure | None = None,
) -> None:
    """Run ``body()`` again and again until cancelled.

    ``body`` is expected to run forever; each time it ends it is started again: after a
    Redis error (WARNING, backoff growing while the failures go on), after any other
    exception (ERROR naming ``name``, with the traceback, then a pause), or when it
    returned (ERROR: a reader must not end by itself). Before the restart
    ``on_failure(error)`` lets the owner drop what the failure may have left half done (a
    connection, a group membership) so that ``body`` sets it up again. A failure more than
    ``BACKOFF_CAP_SECONDS * 5`` after the previous one counts as the first again.
    """
    loop = asyncio.get_running_loop()
    failures = 0
    last_failure = -1e9
    while True:
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except REDIS_ERRORS as error:
            now = loop.time()
            failures = failures + 1 if now - last_failure < BACKOFF_CAP_SECONDS * 5 else 0
            last_failure = now
            logger.warning("%s lost Redis (%s: %s); retrying", name, type(error).__name__, error)
            await _recover(name, on_failure, error)
            await asyncio.sleep(backoff_delay(failures))
        except Exception as error:
            logger.exception("%s died; restarting it", name)
            await _recover(name, on_failure, error)
            await asyncio.sleep(CRASH_PAUSE_SECONDS)
        else:
            logger.error("%s ended by itself; restarting it", name)
            await asyncio.sleep(CRASH_PAUSE_SECONDS)


async def _recover(name: str, on_failure: OnFailure | None, error: BaseException) -> None:
    if on_failure is None:
        return
    try:
        await on_failure(error)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("%s failed while recovering from a failure", name)
