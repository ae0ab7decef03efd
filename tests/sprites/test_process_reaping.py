"""Reaping the processes a worker started, from several of its threads at once.

The Celery worker runs tasks on threads; five projects destroyed side by side (the relay
churn test's clean-up) had two threads reap the same ended bridge, and one destroy step
failed with a KeyError from the second removal.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator

import pytest

from sprites.backends import processes


@pytest.fixture
def ended_process() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["true"])
    process.wait()
    yield process
    processes._started.pop(process.pid, None)


def test_two_threads_reaping_the_same_ended_process_both_succeed(
    ended_process: subprocess.Popen[bytes],
) -> None:
    # Both threads have listed the process and seen it ended before either removes it:
    # the interleaving that failed in the worker, made certain by a barrier in poll().
    both_polled = threading.Barrier(2, timeout=10)

    def poll() -> int:
        both_polled.wait()
        return 0

    ended_process.poll = poll  # type: ignore[method-assign]
    processes._started[ended_process.pid] = ended_process
    errors: list[BaseException] = []

    def reap() -> None:
        try:
            processes.reap_started()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert errors == []
    assert ended_process.pid not in processes._started
