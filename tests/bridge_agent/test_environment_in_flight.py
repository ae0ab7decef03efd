"""New secrets that come while another command waits for pi's answer still reach the next
prompt (``SessionManager.session`` waits for that command, up to ``STALE_PI_WAIT``).

The race a full CI run met: the session's pi was idle but a command of the bridge's own was in
flight when the values came, so ``POST /starter/environment`` could not restart it; a prompt
right then went to the old pi, which had no key for the model. Here the bridge's runtime runs
in this process with the real pi and the scripted model; the command in flight is held by its
count (``LiveSession.commands_in_flight``, what ``SessionManager._command`` keeps), so the
prompt comes exactly while it is up, with no timing to win or lose.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bridge_agent import sessions as sessions_module
from bridge_agent.config import PACKAGE_DIR, BridgeConfig, find_node_binary, find_pi_binary
from bridge_agent.live_session import LiveSession
from bridge_agent.runtime import BridgeRuntime

OLD_VALUE = "old-value-7c2e"
NEW_VALUE = "new-value-b05d"
WRITE_SECRET = "[[bash: echo $PROJECT_SECRET > seen.txt]]"


async def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the condition never held")
        await asyncio.sleep(0.05)


@pytest.fixture
async def runtime(pi_home: Path) -> AsyncIterator[BridgeRuntime]:
    pi = find_pi_binary(dict(os.environ), [PACKAGE_DIR, Path.cwd()])
    config = BridgeConfig(
        home=pi_home,
        token="t" * 32,
        port=65000,
        pi_binary=pi,
        node_binary=find_node_binary(dict(os.environ), pi),
        prewarm=False,
        env={
            **os.environ,
            "NO_PROXY": "127.0.0.1,localhost",
            "STARTER_SECRET_NAMES": "PROJECT_SECRET",
            "PROJECT_SECRET": OLD_VALUE,
        },
    )
    runtime = BridgeRuntime(config)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


async def idle_session_with_a_command_in_flight(runtime: BridgeRuntime) -> LiveSession:
    """The current session, its pi started with the old value and idle, one command of the
    bridge's own waiting for pi's answer, and new values in place."""
    live = await runtime.sessions.session(None)
    assert not live.busy and live.commands_in_flight == 0
    live.commands_in_flight += 1
    answer = await runtime.update_environment({"PROJECT_SECRET": NEW_VALUE}, None)
    # pi could not be restarted: it waits for the new value (what the CI run met).
    assert answer["applied"] == "after_run"
    assert answer["pending_sessions"] == [live.session_id]
    assert runtime.sessions.live[live.session_id] is live
    return live


async def run_to_the_end(runtime: BridgeRuntime, seen: Path) -> LiveSession:
    """Prompt the current session to write the variable; the session that ran it."""
    live, disposition = await asyncio.wait_for(runtime.sessions.prompt(None, WRITE_SECRET), 30)
    assert disposition == "started"
    await eventually(lambda: seen.exists() and not live.running)
    return live


async def test_a_prompt_waits_for_the_command_in_flight_and_gets_a_pi_with_the_new_value(
    runtime: BridgeRuntime,
) -> None:
    old = await idle_session_with_a_command_in_flight(runtime)
    old_pid = old.process.pid

    async def answered_later() -> None:
        # The command in flight gets its answer well within STALE_PI_WAIT.
        await asyncio.sleep(0.5)
        old.commands_in_flight -= 1

    answer = asyncio.create_task(answered_later())
    seen = runtime.config.home / "seen.txt"
    ran_on = await run_to_the_end(runtime, seen)
    await answer
    assert seen.read_text().strip() == NEW_VALUE
    assert ran_on is not old and ran_on.process.pid != old_pid
    assert not old.process.alive
    assert ran_on.session_id == runtime.sessions.current_id


async def test_a_command_in_flight_longer_than_the_wait_leaves_the_prompt_on_the_old_pi(
    runtime: BridgeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented fallback: the prompt does not hang; it runs on the old pi, which
    restarts with the new value once the command and the run are over."""
    monkeypatch.setattr(sessions_module, "STALE_PI_WAIT", 0.3)
    old = await idle_session_with_a_command_in_flight(runtime)
    seen = runtime.config.home / "seen.txt"
    clock = asyncio.get_running_loop().time
    started = clock()
    ran_on = await run_to_the_end(runtime, seen)
    # It waited for the command in flight, then gave up on it.
    assert clock() - started >= 0.3
    assert ran_on is old
    assert seen.read_text().strip() == OLD_VALUE
    old.commands_in_flight -= 1
    # Idle and nothing in flight: pi restarts for the value that waited.
    await eventually(lambda: not old.process.alive)
    await eventually(lambda: runtime.sessions.current_id in runtime.sessions.live)
    seen.unlink()
    again = await run_to_the_end(runtime, seen)
    assert again is not old
    assert seen.read_text().strip() == NEW_VALUE
