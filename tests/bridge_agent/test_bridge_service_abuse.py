"""The agent abusing services: bad names and paths, the bridge's port, huge commands, too many
services, a planted symlink as log, a flood of output, processes that try to outlive a stop."""

from __future__ import annotations

import json
from pathlib import Path

from bridge_agent.protocol import MAX_SERVICE_COMMAND_CHARS, MAX_SERVICES
from bridge_agent.services.logfile import MAX_LOG_BYTES
from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.service_helpers import (
    define,
    log_lines,
    pid_alive,
    service,
    wait_for_status,
    wait_until,
)
from tests.support.bridge_process import BridgeProcess


def refused(bridge: BridgeProcess, body: dict[str, object]) -> str:
    with bridge.client() as client:
        response = client.post("/starter/services", json=body)
    assert response.status_code == 400, response.text
    return str(response.json()["message"])


def test_bad_definitions_get_clear_400s(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    (bridge.home / "root-link").symlink_to("/")
    for name in ("../x", "x/../../y", "X", ""):
        assert "'name'" in refused(bridge, {"name": name, "command": "true"})
    for cwd in ("..", "/etc", "root-link", "root-link/etc", "../../.."):
        assert "inside the project's home" in refused(
            bridge, {"name": "a", "command": "true", "cwd": cwd}
        )
    message = refused(bridge, {"name": "a", "command": "true", "port": bridge.port})
    assert "bridge's own port" in message
    huge = "echo " + "x" * MAX_SERVICE_COMMAND_CHARS
    assert "at most" in refused(bridge, {"name": "a", "command": huge})
    with bridge.client() as client:
        assert client.post("/starter/services", content=b"[1]").status_code == 400
        assert client.get("/starter/services/..%2Fx").status_code in (400, 404, 405)
        assert client.get("/starter/services/UPPER").status_code == 400
        assert (
            client.get("/starter/services/web/logs", params={"lines": "99999999"}).status_code
            == 400
        )
        assert client.get("/starter/services").json() == {"services": []}


def test_the_33rd_service_is_refused(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    for number in range(MAX_SERVICES):
        define(bridge, name=f"job-{number}", command="true", schedule="every 1h")
    message = refused(bridge, {"name": "one-more", "command": "true"})
    assert f"at most {MAX_SERVICES} services" in message
    define(bridge, name="job-0", command="echo redefined", schedule="every 2h")  # same name: fine


def test_two_services_cannot_share_a_port(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    define(bridge, name="one", command="sleep 1000", port=4999)
    assert "already service 'one'" in refused(
        bridge, {"name": "two", "command": "sleep 1000", "port": 4999}
    )


def test_a_log_replaced_by_a_symlink_is_never_written_through(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    victim = bridge.home / "precious.txt"
    victim.write_text("precious\n")
    define(bridge, name="talker", command="while true; do echo talk; sleep 0.1; done")
    log = bridge.home / ".starter" / "services" / "talker.log"
    wait_until(lambda: log.exists() and "talk" in log.read_text())
    log.unlink()
    log.symlink_to(victim)
    # The writer notices within a second that its file is gone and makes a new one.
    wait_until(lambda: not log.is_symlink() and log.exists() and "talk" in log.read_text())
    assert victim.read_text() == "precious\n"
    # Planted again just before a restart, when the log is opened anew.
    log.unlink()
    log.symlink_to(victim)
    with bridge.client() as client:
        client.post("/starter/services/talker/restart")
    wait_for_status(bridge, "talker", "running")
    wait_until(lambda: not log.is_symlink() and "talk" in log.read_text())
    assert victim.read_text() == "precious\n"
    assert any(line == "talk" for line in log_lines(bridge, "talker"))


def test_a_planted_symlink_for_the_log_directory_is_replaced(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    elsewhere = bridge.home.parent / "elsewhere"
    elsewhere.mkdir()
    logs = bridge.home / ".starter" / "services"
    logs.parent.mkdir(parents=True, exist_ok=True)
    logs.symlink_to(elsewhere)
    define(bridge, name="talker", command="echo hello; sleep 1000")
    wait_until(lambda: "hello" in log_lines(bridge, "talker"))
    assert not logs.is_symlink() and list(elsewhere.iterdir()) == []


def test_a_flood_of_output_keeps_the_log_bounded(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    # Half a gigabyte as fast as the pipe takes it, then a marker.
    define(
        bridge,
        name="flood",
        command="yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 500000000;"
        " echo; echo flood-done; sleep 1000",
    )
    logs = bridge.home / ".starter" / "services"
    wait_until(lambda: "flood-done" in log_lines(bridge, "flood", 5), timeout=120)
    assert (logs / "flood.log").stat().st_size <= MAX_LOG_BYTES
    assert (logs / "flood.log.1").stat().st_size <= MAX_LOG_BYTES
    assert sorted(path.name for path in logs.iterdir()) == ["flood.log", "flood.log.1"]
    assert service(bridge, "flood")["status"] == "running"


def test_a_child_that_forks_and_leaves_is_ended_on_stop(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    # The subshell starts a sleeper and exits: the sleeper is orphaned but stays in the group.
    define(bridge, name="forker", command="(sleep 1000 & echo $! > orphan.pid); sleep 1000")
    wait_until(
        lambda: (
            (bridge.home / "orphan.pid").exists()
            and (bridge.home / "orphan.pid").read_text().strip()
        )
    )
    orphan = int((bridge.home / "orphan.pid").read_text())
    assert pid_alive(orphan)
    with bridge.client() as client:
        assert client.post("/starter/services/forker/stop").json()["status"] == "stopped"
    wait_until(lambda: not pid_alive(orphan), timeout=10, what="the orphan to be ended")


def test_a_service_that_exits_leaving_a_child_behind_has_the_child_ended(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    define(bridge, name="leaver", command="sleep 1000 & echo $! >> children.pid; exit 1")
    children = bridge.home / "children.pid"
    wait_until(lambda: children.exists() and len(children.read_text().split()) >= 2, timeout=15)
    first = int(children.read_text().split()[0])
    # Its main process exited, so before the restart the rest of its group was ended.
    wait_until(lambda: not pid_alive(first), timeout=10)
    with bridge.client() as client:
        client.delete("/starter/services/leaver")
    wait_until(
        lambda: not any(pid_alive(int(pid)) for pid in children.read_text().split()), timeout=10
    )


def test_a_service_ignoring_sigterm_is_killed(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    define(
        bridge,
        name="stubborn",
        command="trap '' TERM; echo $$ > stubborn.pid; while true; do sleep 0.1; done",
    )
    pid_file = bridge.home / "stubborn.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip())
    pid = int(pid_file.read_text())
    with bridge.client() as client:
        assert client.post("/starter/services/stubborn/stop", timeout=30).status_code == 200
    assert not pid_alive(pid)


def test_the_services_file_written_by_the_agent_cannot_break_the_bridge(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    define(bridge, name="good", command="sleep 1000")
    bridge.stop()
    registry = bridge.home / ".starter" / "services.json"
    data = json.loads(registry.read_text())
    good = data["services"][0]
    planted = [
        {**good, "spec": {**good["spec"], "name": "../evil"}},
        {**good, "spec": {**good["spec"], "name": "cron1", "type": "cron", "schedule": "never"}},
        {**good, "spec": {**good["spec"], "name": "t1", "type": "shell"}},
        {**good, "spec": {**good["spec"], "name": "c1", "cwd": "/etc"}},
        {**good, "spec": {**good["spec"], "name": "c2", "cwd": "../.."}},
        {**good, "spec": {**good["spec"], "name": "p1", "type": "app", "port": 22}},
        {**good, "spec": {**good["spec"], "name": "x1", "command": "x" * 5000}},
        {**good, "next_run_at": "yesterday"},
        42,
        "text",
    ]
    data["services"] = planted + data["services"]
    registry.write_text(json.dumps(data))
    restarted = _restart(start_bridge, bridge.home)
    assert [s["name"] for s in _all(restarted)] == ["good"]
    wait_for_status(restarted, "good", "running")
    registry.write_text("not json")
    bridge2 = _restart(start_bridge, bridge.home, previous=restarted)
    assert _all(bridge2) == []


def _restart(
    start_bridge: StartBridge, home: Path, previous: BridgeProcess | None = None
) -> BridgeProcess:
    if previous is not None:
        previous.stop()
    return start_bridge(home)


def _all(bridge: BridgeProcess) -> list[dict[str, object]]:
    with bridge.client() as client:
        return list(client.get("/starter/services").json()["services"])


def test_services_do_not_get_the_bridge_token(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    define(bridge, name="snoop", command="env > env.txt; sleep 1000")
    env_file = bridge.home / "env.txt"
    wait_until(lambda: env_file.exists() and "PATH=" in env_file.read_text())
    text = env_file.read_text()
    assert bridge.token not in text
    assert "STARTER_SERVICES_SOCKET=" in text and "STARTER_SERVICE_NAME=snoop" in text
    assert "STARTER_BRIDGE_TOKEN=" not in text
