"""New secrets reach the Sprite without costing anyone their work (``POST /starter/environment``).

Real bridge, real pi, the scripted model: an exec sees a new value at once, an idle session's
pi restarts with it, a busy one finishes its run undisturbed and restarts right after, a bridge
the keeper restarts comes back with the new values, and the endpoint refuses what only the
platform may set.
"""

from __future__ import annotations

import base64
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge_agent.environment_handoff import decode, encode
from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.test_bridge_interrupted_runs import start_run
from tests.support.bridge_process import BridgeProcess, EventStream

OLD_VALUE = "old-value-4d1f"
NEW_VALUE = "new-value-93ac"
BASE = {
    "STARTER_ENVIRONMENT_NAMES": "PROJECT_SECRET,REMOVED_SECRET",
    "STARTER_SECRET_NAMES": "PROJECT_SECRET,REMOVED_SECRET",
    "PROJECT_SECRET": OLD_VALUE,
    "REMOVED_SECRET": "going-away",
    "PLATFORM_SETTING": "kept",
}


def update(bridge: BridgeProcess, body: dict[str, Any], token: str | None = None) -> httpx.Response:
    headers = {"X-Starter-Token": token if token is not None else bridge.token}
    return httpx.post(bridge.url + "/starter/environment", json=body, headers=headers, timeout=60)


def exec_output(bridge: BridgeProcess, command: str) -> str:
    with bridge.client() as client:
        response = client.post("/starter/exec", json={"command": command})
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["stdout"]).decode().strip()


def new_set() -> dict[str, Any]:
    return {"variables": {"PROJECT_SECRET": NEW_VALUE, "ADDED_SECRET": "added"}}


def pi_pid(events: EventStream, session_id: str | None = None) -> int:
    started = events.of_type("session_started", session_id)
    assert started, [e["type"] for e in events.events]
    return int(started[-1]["data"]["pid"])


def test_an_exec_sees_new_values_at_once_and_removed_ones_go(start_bridge: StartBridge) -> None:
    bridge = start_bridge(env=BASE)
    shown = 'echo "$PROJECT_SECRET|${REMOVED_SECRET-unset}|$ADDED_SECRET|$PLATFORM_SETTING"'
    assert exec_output(bridge, shown) == f"{OLD_VALUE}|going-away||kept"
    response = update(bridge, new_set())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["applied"] == "now" and answer["pending_sessions"] == []
    assert answer["names"] == ["ADDED_SECRET", "PROJECT_SECRET", "REMOVED_SECRET"]
    assert exec_output(bridge, shown) == f"{NEW_VALUE}|unset|added|kept"
    assert exec_output(bridge, 'echo "$STARTER_SECRET_NAMES"') == "ADDED_SECRET,PROJECT_SECRET"
    # The same set again changes nothing.
    assert update(bridge, new_set()).json() == {
        "applied": "now",
        "pending_sessions": [],
        "names": [],
    }


def test_an_idle_session_restarts_at_once_and_its_next_run_sees_the_value(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge(env=BASE, prewarm=True)
    with EventStream(bridge, after=0) as events:
        events.wait_type("session_started")
        before = pi_pid(events)
        response = update(bridge, new_set())
        assert response.json()["applied"] == "now", response.text
        ended = events.wait_type("session_ended")
        assert ended["data"]["reason"] == "environment"
        restarted = events.wait_for(
            lambda e: e["type"] == "session_started" and e["data"]["reason"] == "environment"
        )
        assert restarted["data"]["pid"] != before
        changed = events.wait_type("environment_changed")
        assert changed["data"] == {"names": response.json()["names"], "applied": "now",
                                   "pending_sessions": []}  # fmt: skip
        session_id = start_run(bridge, events, "[[bash: echo $PROJECT_SECRET > seen.txt]]")
        events.wait_type("agent_settled", session_id)
    assert (bridge.home / "seen.txt").read_text().strip() == NEW_VALUE


def test_a_streaming_run_finishes_undisturbed_and_the_next_run_sees_the_value(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge(env=BASE)
    with EventStream(bridge, after=0) as events:
        session_id = start_run(bridge, events, "[[slow: 30]]")
        events.wait_type("message_update", session_id)
        pid_during_run = pi_pid(events, session_id)
        response = update(bridge, new_set())
        assert response.status_code == 200, response.text
        assert response.json()["applied"] == "after_run"
        assert response.json()["pending_sessions"] == [session_id]
        # New processes get the value at once, while the run goes on.
        assert exec_output(bridge, "echo $PROJECT_SECRET") == NEW_VALUE
        first = events.wait_type("environment_changed")
        assert first["data"]["applied"] == "after_run" and first["session_id"] is None
        end = events.wait_type("agent_end", session_id, timeout=30)
        # The run was never cut: same pi process, an ordinary end.
        assert end["data"].get("interrupted") is not True, end["data"]
        ended = events.wait_type("session_ended", session_id)
        assert ended["data"]["reason"] == "environment"
        assert ended["id"] > end["id"]
        assert [
            e for e in events.events if e["type"] == "session_ended" and e["id"] < end["id"]
        ] == []
        picked_up = events.wait_for(
            lambda e: e["type"] == "environment_changed" and e["session_id"] == session_id
        )
        assert picked_up["data"]["applied"] == "now"
        assert picked_up["id"] > end["id"]
        restarted = events.wait_for(
            lambda e: e["type"] == "session_started" and e["data"]["reason"] == "environment"
        )
        assert restarted["data"]["pid"] != pid_during_run
        start = len(events.events)
        second = start_run(bridge, events, "[[bash: echo $PROJECT_SECRET > seen.txt]]")
        assert second == session_id  # the same conversation, resumed
        events.wait_type("agent_settled", session_id, start=start)
    assert (bridge.home / "seen.txt").read_text().strip() == NEW_VALUE


def test_values_that_come_while_pi_starts_reach_the_next_run(start_bridge: StartBridge) -> None:
    """The prewarmed pi is still starting when the update comes (it was launched with the
    old values): the first command restarts it rather than running with them."""
    bridge = start_bridge(env=BASE, prewarm=True)
    assert update(bridge, new_set()).status_code == 200
    with EventStream(bridge, after=0) as events:
        session_id = start_run(bridge, events, "[[bash: echo $PROJECT_SECRET > seen.txt]]")
        events.wait_type("agent_settled", session_id)
    assert (bridge.home / "seen.txt").read_text().strip() == NEW_VALUE


@pytest.mark.parametrize(
    "body",
    [
        {"variables": {"PROJECT_SECRET": 42}},
        {"variables": {"PROJECT_SECRET": None}},
        {"variables": ["PROJECT_SECRET"]},
        {"variables": {"1BAD": "x"}},
        {"variables": {"BAD-NAME": "x"}},
        {"variables": {"": "x"}},
        {"variables": {"PATH": "/tmp/evil"}},
        {"variables": {"LD_PRELOAD": "/tmp/evil.so"}},
        {"variables": {"STARTER_BRIDGE_TOKEN": "stolen"}},
        {"variables": {"starter_bridge_token": "stolen"}},
        {"variables": {"STARTER_HOME": "/"}},
        {"variables": {"PI_CODING_AGENT_DIR": "/tmp"}},
        {"variables": {"PROJECT_SECRET": "a\x00b"}},
        {"variables": {"PROJECT_SECRET": "x" * (64 * 1024 + 1)}},
        {"variables": {"PROJECT_SECRET": "x"}, "secret_names": ["OTHER"]},
        {"variables": {"PROJECT_SECRET": "x"}, "secret_names": "PROJECT_SECRET"},
        {"variables": {"PROJECT_SECRET": "x"}, "extra": 1},
        {},
    ],
)
def test_the_endpoint_refuses_what_only_the_platform_sets(
    shared_environment_bridge: BridgeProcess, body: dict[str, Any]
) -> None:
    bridge = shared_environment_bridge
    response = update(bridge, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_field"
    assert "evil" not in response.text and "stolen" not in response.text
    assert exec_output(bridge, "echo $PROJECT_SECRET:$PATH").startswith(OLD_VALUE + ":")
    assert exec_output(bridge, 'echo "${STARTER_BRIDGE_TOKEN-none}"') == "none"
    # The bridge's token is what it was.
    assert httpx.get(bridge.url + "/starter/state", headers=bridge.headers).status_code == 200


def test_the_endpoint_needs_the_token(shared_environment_bridge: BridgeProcess) -> None:
    bridge = shared_environment_bridge
    assert update(bridge, new_set(), token="").status_code == 401
    assert update(bridge, new_set(), token="wrong").status_code == 401
    assert exec_output(bridge, "echo $PROJECT_SECRET") == OLD_VALUE


def test_values_stay_out_of_events_and_the_log(start_bridge: StartBridge) -> None:
    bridge = start_bridge(env=BASE, prewarm=True)
    with EventStream(bridge, after=0) as events:
        events.wait_type("session_started")
        assert update(bridge, new_set()).status_code == 200
        events.wait_type("environment_changed")
        text = str(events.events)
    assert NEW_VALUE not in text and OLD_VALUE not in text
    assert NEW_VALUE not in bridge.log_path.read_text()


def test_a_bridge_the_keeper_restarts_comes_back_with_the_new_values(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge(env=BASE, keeper=True)
    first = bridge.kept_bridge_pid()
    assert update(bridge, new_set()).status_code == 200
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while bridge.kept_bridge_pid() == first:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert exec_output(bridge, 'echo "$PROJECT_SECRET|${REMOVED_SECRET-unset}"') == (
        f"{NEW_VALUE}|unset"
    )
    assert exec_output(bridge, 'echo "${STARTER_BRIDGE_TOKEN-none}"') == "none"
    # The keeper logged names, never values; no file in the home holds one.
    log = bridge.log_path.read_text()
    assert "PROJECT_SECRET" in log and NEW_VALUE not in log
    assert not [
        p for p in bridge.home.rglob("*") if p.is_file() and NEW_VALUE.encode() in p.read_bytes()
    ]
    # Twice: the second bridge hands its own changes over as well.
    assert update(bridge, {"variables": {"PROJECT_SECRET": "third"}}).status_code == 200
    second = bridge.kept_bridge_pid()
    os.kill(second, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while bridge.kept_bridge_pid() == second:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert exec_output(bridge, 'echo "$PROJECT_SECRET|${ADDED_SECRET-unset}"') == "third|unset"


def test_the_keeper_refuses_a_handed_over_token_or_platform_name() -> None:
    assert decode(encode({"PROJECT_SECRET": "x"}, None)) == ({"PROJECT_SECRET": "x"}, None)
    assert decode(encode({"STARTER_BRIDGE_TOKEN": "stolen"}, None)) is None
    assert decode(encode({"PATH": "/tmp"}, None)) is None
    assert decode(b'{"variables": {"A": 1}}') is None
    assert decode(b"not json") is None


@pytest.fixture(scope="module")
def shared_environment_bridge(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home: Path = tmp_path_factory.mktemp("environment") / "home"
    bridge = BridgeProcess(home, env=BASE).start()
    try:
        yield bridge
    finally:
        bridge.stop()


def test_a_command_writing_to_the_keepers_pipe_cannot_replace_the_token(
    start_bridge: StartBridge,
) -> None:
    """A process in the Sprite that finds the pipe's write end (``/proc/<bridge>/fd``)
    hands the keeper a set with the token or ``PATH`` in it: the keeper refuses the set,
    and the restarted bridge still wants the control plane's token."""
    bridge = start_bridge(env=BASE, keeper=True)
    first = bridge.kept_bridge_pid()
    argv = Path(f"/proc/{first}/cmdline").read_bytes().split(b"\0")
    descriptor = int(argv[argv.index(b"--environment-fd") + 1])
    forged = '{"variables": {"STARTER_BRIDGE_TOKEN": "stolen", "PATH": "/tmp/evil"}}'
    written = exec_output(bridge, f"echo '{forged}' > /proc/{first}/fd/{descriptor} && echo ok")
    assert written == "ok"  # the write itself goes through: the keeper must refuse it
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while bridge.kept_bridge_pid() == first:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert update(bridge, new_set(), token="stolen").status_code == 401
    assert exec_output(bridge, 'echo "$PROJECT_SECRET|${STARTER_BRIDGE_TOKEN-none}"') == (
        f"{OLD_VALUE}|none"
    )
    assert "/tmp/evil" not in exec_output(bridge, "echo $PATH")
    assert "refuses" in bridge.log_path.read_text()


def test_a_service_restarts_with_the_new_values_and_keeps_them_after_a_bridge_crash(
    start_bridge: StartBridge,
) -> None:
    from tests.bridge_agent.service_helpers import define, wait_until

    bridge = start_bridge(env=BASE, keeper=True)
    seen = bridge.home / "service-saw.txt"
    define(
        bridge,
        name="uses-secret",
        type="worker",
        command=f'echo "$PROJECT_SECRET" >> {seen}; exec sleep 1000',
    )
    wait_until(lambda: seen.exists() and seen.read_text() == f"{OLD_VALUE}\n", what="old value")
    assert update(bridge, new_set()).status_code == 200
    wait_until(lambda: seen.read_text().splitlines() == [OLD_VALUE, NEW_VALUE], what="restart")
    # The keeper restarts a killed bridge with the new set, and the service starts again
    # with it (not with the values the bridge was first started with).
    first = bridge.kept_bridge_pid()
    os.kill(first, signal.SIGKILL)
    wait_until(
        lambda: len(seen.read_text().splitlines()) >= 3, timeout=30, what="service after crash"
    )
    assert seen.read_text().splitlines()[2:] and set(seen.read_text().splitlines()[2:]) == {
        NEW_VALUE
    }
