"""Supervised services and cron jobs in a real bridge: defined over HTTP, the socket and the
CLI; restarted on crash with backoff; runs recorded; started again after a restart."""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.service_helpers import (
    define,
    free_port,
    log_lines,
    pid_alive,
    service,
    socket_path,
    starter_service,
    wait_for_status,
    wait_until,
)
from tests.support.bridge_process import EventStream
from tests.support.model_server import ScriptedModelServer

HTTP_SERVER = "exec python3 -m http.server $PORT --bind 127.0.0.1"


def get_ok(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def inspect_rows(home: Path) -> dict[str, dict[str, object]]:
    connection = sqlite3.connect(home / "inspect.db")
    connection.row_factory = sqlite3.Row
    try:
        return {row["id"]: dict(row) for row in connection.execute("SELECT * FROM services")}
    finally:
        connection.close()


def test_an_app_defined_over_http_serves_on_its_port_and_is_recorded(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    port = free_port()
    with EventStream(bridge) as events:
        created = define(bridge, name="web", command=HTTP_SERVER, port=port, description="site")
        assert created["status"] == "starting" and created["desired"] == "running"
        assert created["cwd"] == str(bridge.home)
        running = events.wait_for(
            lambda e: e["type"] == "service_changed" and e["data"]["status"] == "running"
        )["data"]
    assert running["name"] == "web" and running["port"] == port and running["pid"]
    assert wait_until(lambda: get_ok(port), what="the app to answer")
    with bridge.client() as client:
        listed = client.get("/starter/services").json()["services"]
    assert [s["name"] for s in listed] == ["web"]
    row = wait_until(lambda: inspect_rows(bridge.home).get("web"), what="the inspect row")
    assert row["type"] == "app" and row["port"] == port and row["status"] == "running"
    assert row["description"] == "site"


def test_a_crashing_service_is_restarted_with_growing_backoff(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    define(bridge, name="crashy", command="echo boom-$RANDOM; exit 3")
    backoff = wait_until(
        lambda: (
            (s := service(bridge, "crashy"))["restart_count"] >= 3
            and s["status"] == "backoff"
            and s
        ),
        timeout=30,
        what="three restarts",
    )
    assert backoff["last_exit_code"] == 3
    assert backoff["next_restart_at"] is not None
    notes = [line for line in log_lines(bridge, "crashy") if "restarting in" in line]
    # 1 s, 2 s, 4 s: each crash waits twice as long as the one before.
    assert [line.rsplit("restarting in ", 1)[1] for line in notes[:3]] == ["1 s", "2 s", "4 s"]
    assert sum(line.startswith("boom-") for line in log_lines(bridge, "crashy")) >= 3
    # The seed's status words in inspect.db: a service waiting to be restarted is in error.
    wait_until(lambda: inspect_rows(bridge.home)["crashy"]["status"] == "error")


def test_a_cron_job_every_5s_runs_and_keeps_its_runs_with_exit_codes(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    # Fails the first time, succeeds after.
    command = "if [ -f ran ]; then echo second-run; else touch ran; echo first-run >&2; exit 7; fi"
    with EventStream(bridge) as events:
        created = define(bridge, name="tick", command=command, schedule="every 5s")
        assert created["type"] == "cron" and created["status"] == "scheduled"
        due = datetime.fromisoformat(created["next_run_at"])
        assert timedelta(seconds=3) < due - datetime.now(UTC) <= timedelta(seconds=5)
        first = events.wait_type("service_run", timeout=15)["data"]
        second = events.wait_type(
            "service_run",
            timeout=15,
            start=events.events.index(next(e for e in events.events if e["type"] == "service_run"))
            + 1,
        )["data"]
    assert (first["exit_code"], first["trigger"], first["output"]) == (7, "schedule", "first-run\n")
    assert (second["exit_code"], second["output"]) == (0, "second-run\n")
    with bridge.client() as client:
        runs = client.get("/starter/services/tick/runs").json()["runs"]
    assert [run["id"] for run in runs[:2]] == [second["id"], first["id"]]  # newest first
    assert all(run["started_at"] <= run["ended_at"] for run in runs)
    job = service(bridge, "tick")
    row = inspect_rows(bridge.home)["tick"]
    assert (row["type"], row["schedule"], row["status"]) == ("cron", "every 5s", "running")
    assert job["last_run"]["id"] >= second["id"]
    assert job["next_run_at"] > second["ended_at"]


def test_a_job_run_on_demand_is_recorded_as_manual(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    define(bridge, name="report", command="echo made-report", schedule="0 3 * * *")
    with bridge.client() as client:
        answer = client.post("/starter/services/report/run")
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "running"
        assert client.post("/starter/services/web/run").status_code == 404
        last_run = wait_until(lambda: service(bridge, "report")["last_run"])
        runs = client.get("/starter/services/report/runs").json()["runs"]
    assert last_run["trigger"] == "manual" and last_run["exit_code"] == 0
    assert runs == [last_run] and runs[0]["output"] == "made-report\n"
    assert service(bridge, "report")["status"] == "scheduled"


def test_a_job_that_fell_due_while_the_bridge_was_down_runs_once_at_start(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    define(bridge, name="hourly", command="echo catching-up", schedule="every 1h")
    bridge.stop()
    registry = bridge.home / ".starter" / "services.json"
    data = json.loads(registry.read_text())
    data["services"][0]["next_run_at"] = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    registry.write_text(json.dumps(data))

    restarted = start_bridge(bridge.home)
    runs = wait_until(lambda: service(restarted, "hourly")["last_run"], what="the missed run")
    assert runs["trigger"] == "missed" and runs["output"] == "catching-up\n"
    job = wait_for_status(restarted, "hourly", "scheduled")
    assert datetime.fromisoformat(job["next_run_at"]) > datetime.now(UTC) + timedelta(minutes=59)
    time.sleep(1)
    with restarted.client() as client:
        assert len(client.get("/starter/services/hourly/runs").json()["runs"]) == 1


def test_services_start_again_after_the_bridge_restarts(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    port = free_port()
    define(bridge, name="web", command=HTTP_SERVER, port=port)
    define(bridge, name="idle", command="sleep 1000")
    first_pid = wait_for_status(bridge, "web", "running")["pid"]
    with bridge.client() as client:
        client.post("/starter/services/idle/stop")
    bridge.stop()
    assert not pid_alive(first_pid)  # a clean shutdown ends its services

    restarted = start_bridge(bridge.home)
    assert wait_for_status(restarted, "web", "running")["pid"] != first_pid
    assert wait_until(lambda: get_ok(port))
    assert service(restarted, "idle")["status"] == "stopped"  # stopped stays stopped


def test_a_killed_bridge_leaves_no_service_behind_once_it_is_back(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    port = free_port()
    define(bridge, name="web", command=HTTP_SERVER, port=port)
    first_pid = wait_for_status(bridge, "web", "running")["pid"]
    wait_until(lambda: get_ok(port))
    bridge.stop(signal.SIGKILL)
    assert pid_alive(first_pid)  # nothing could end it

    restarted = start_bridge(bridge.home)
    wait_until(lambda: not pid_alive(first_pid), what="the leftover to be ended")
    second = wait_for_status(restarted, "web", "running")
    assert wait_until(lambda: get_ok(port))
    time.sleep(1.5)  # the new one holds the port: no crash loop
    assert service(restarted, "web")["pid"] == second["pid"]


def test_stop_start_restart_and_remove(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    connection = sqlite3.connect(bridge.home / "inspect.db")
    connection.execute(
        "INSERT INTO services (id, name, type, status) VALUES ('mine', 'Mine', 'worker', 'running')"
    )
    connection.commit()
    connection.close()
    pid = wait_for_status(
        bridge, define(bridge, name="worker", command="sleep 1000")["name"], "running"
    )["pid"]
    with EventStream(bridge) as events, bridge.client() as client:
        stopped = client.post("/starter/services/worker/stop").json()
        assert stopped["status"] == "stopped" and stopped["desired"] == "stopped"
        assert not pid_alive(pid)
        wait_until(lambda: inspect_rows(bridge.home)["worker"]["status"] == "stopped")
        started = client.post("/starter/services/worker/start").json()
        assert started["desired"] == "running"
        pid = wait_for_status(bridge, "worker", "running")["pid"]
        client.post("/starter/services/worker/restart")
        assert wait_for_status(bridge, "worker", "running")["pid"] != pid
        assert client.delete("/starter/services/worker").status_code == 200
        assert events.wait_type("service_removed")["data"] == {"name": "worker"}
        assert client.get("/starter/services/worker").status_code == 404
        assert client.post("/starter/services/worker/bounce").status_code in (400, 404)
    rows = wait_until(lambda: (rows := inspect_rows(bridge.home)) and "worker" not in rows and rows)
    assert rows["mine"]["status"] == "running"  # the agent's own row is left alone


def test_logs_are_served_as_a_tail_and_followed_live(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    define(
        bridge, name="chatty", command="for i in $(seq 1 1000); do echo line-$i; sleep 0.1; done"
    )
    wait_until(lambda: any(line == "line-5" for line in log_lines(bridge, "chatty")))
    assert log_lines(bridge, "chatty", 2)[-1].startswith("line-")
    seen: list[str] = []
    with (
        bridge.client() as client,
        client.stream(
            "GET", "/starter/services/chatty/logs", params={"follow": "1", "lines": "3"}
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        for raw in response.iter_lines():
            if raw.startswith("data: "):
                seen.append(json.loads(raw[6:])["line"])
            if len(seen) >= 6:
                break
    numbers = [int(line.split("-")[1]) for line in seen if line.startswith("line-")]
    assert numbers == sorted(numbers) and len(numbers) >= 5
    with bridge.client() as client:
        assert client.get("/starter/services/chatty/logs", params={"lines": "x"}).status_code == 400


def test_services_need_the_token_over_tcp(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    assert httpx.get(f"{bridge.url}/starter/services").status_code == 401
    assert httpx.post(f"{bridge.url}/starter/services", json={}).status_code == 401


def test_the_cli_manages_services_over_the_socket(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    (bridge.home / "jobs").mkdir()
    loop = "while true; do echo tick; sleep 0.2; done"
    started = starter_service(
        bridge.home, "start", "ticker", "--", "sh", "-c", loop, cwd=bridge.home / "jobs"
    )
    assert started.returncode == 0, started.stderr
    assert "ticker" in started.stdout
    assert service(bridge, "ticker")["cwd"] == str(bridge.home / "jobs")
    wait_for_status(bridge, "ticker", "running")
    listed = starter_service(bridge.home, "list", "--json")
    assert [s["name"] for s in json.loads(listed.stdout)] == ["ticker"]
    wait_until(lambda: "tick" in starter_service(bridge.home, "logs", "ticker", "-n", "5").stdout)
    refused = starter_service(bridge.home, "start", "../x", "--", "true")
    assert refused.returncode == 1 and "'name' must be" in refused.stderr
    cron = starter_service(bridge.home, "start", "job", "--schedule", "every 1h", "--", "echo hi")
    assert cron.returncode == 0, cron.stderr
    assert starter_service(bridge.home, "run", "job").returncode == 0
    wait_until(lambda: "exit 0 (manual)" in starter_service(bridge.home, "runs", "job").stdout)
    assert starter_service(bridge.home, "stop", "ticker").returncode == 0
    assert service(bridge, "ticker")["status"] == "stopped"
    assert starter_service(bridge.home, "rm", "ticker").returncode == 0
    missing = starter_service(bridge.home, "stop", "ticker")
    assert missing.returncode == 1 and "No service named" in missing.stderr
    mode = socket_path(bridge.home).stat().st_mode & 0o777
    assert mode == 0o600


def test_the_socket_serves_only_the_service_routes(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    transport = httpx.HTTPTransport(uds=str(socket_path(bridge.home)))
    with httpx.Client(transport=transport, base_url="http://sprite") as client:
        assert client.get("/starter/services").json() == {"services": []}
        assert client.get("/starter/state").status_code == 404
        assert client.post("/starter/prompt", json={"message": "hi"}).status_code == 404
        assert client.get("/starter/events").status_code == 404


def test_the_agent_starts_a_service_with_its_tool_and_lists_it_from_bash(
    start_bridge: StartBridge, scripted_model_server: ScriptedModelServer
) -> None:
    bridge = start_bridge(prewarm=True)
    port = free_port()
    args = {"name": "site", "command": HTTP_SERVER, "port": port, "description": "the site"}
    with EventStream(bridge) as events, bridge.client() as client:
        message = (
            f"[[tool: start_service {json.dumps(args)}]] [[bash: starter-service list]] svc-marker"
        )
        response = client.post("/starter/prompt", json={"message": message})
        assert response.status_code == 202, response.text
        ends = events.wait_type("agent_end", timeout=60)
    assert wait_until(lambda: get_ok(port))
    assert service(bridge, "site")["description"] == "the site"
    results = [
        message for message in ends["data"]["messages"] if message.get("role") == "toolResult"
    ]
    texts = ["".join(part.get("text", "") for part in m["content"]) for m in results]
    assert texts[0].startswith("The service is starting") and f"port {port}" in texts[0]
    assert "site" in texts[1] and "app" in texts[1]  # starter-service on pi's PATH
    request = scripted_model_server.wait_for_request(lambda b: "svc-marker" in json.dumps(b))
    system = request["messages"][0]["content"]
    assert "start_service" in system and "never with nohup" in system
    assert {
        "start_service",
        "stop_service",
        "restart_service",
        "list_services",
        "service_logs",
    } <= {tool["function"]["name"] for tool in request["tools"]}


def test_a_followed_log_ends_when_the_bridge_stops(start_bridge: StartBridge) -> None:
    bridge = start_bridge()
    define(bridge, name="quiet", command="echo once; exec sleep 1000")
    wait_until(lambda: "once" in log_lines(bridge, "quiet"))
    first_line = threading.Event()
    ended = threading.Event()

    def follow() -> None:
        with (
            bridge.client(timeout=60) as client,
            client.stream(
                "GET", "/starter/services/quiet/logs", params={"follow": "1"}
            ) as response,
        ):
            for raw in response.iter_lines():
                if raw.startswith("data: "):
                    first_line.set()
        ended.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert first_line.wait(10)
    began = time.monotonic()
    assert bridge.stop() == 0
    assert ended.wait(5)
    assert time.monotonic() - began < 8


def test_a_run_cut_short_by_a_killed_bridge_is_ended_at_the_next_start(
    start_bridge: StartBridge,
) -> None:
    bridge = start_bridge()
    define(bridge, name="slow", command="echo $$ > slow.pid; sleep 1000", schedule="0 3 * * *")
    with bridge.client() as client:
        assert client.post("/starter/services/slow/run").status_code == 202
    pid_file = bridge.home / "slow.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip())
    pid = int(pid_file.read_text())
    bridge.stop(signal.SIGKILL)

    restarted = start_bridge(bridge.home)
    wait_until(lambda: not pid_alive(pid), what="the orphaned run to be ended")
    with restarted.client() as client:
        (run,) = client.get("/starter/services/slow/runs").json()["runs"]
    assert run["ended_at"] is not None and run["exit_code"] is None
    assert run["trigger"] == "manual"


def test_a_command_run_through_exec_can_use_starter_service(start_bridge: StartBridge) -> None:
    """`/starter/exec` (the REST API's exec, the dashboard's commands) has the same command
    on PATH as the agent's shell, so a script run from outside can define services too."""
    bridge = start_bridge()
    with bridge.client() as client:
        answer = client.post(
            "/starter/exec",
            json={"command": "starter-service start from-exec -- sleep 30 && starter-service list"},
        ).json()
    assert answer["exit_code"] == 0, answer
    assert "from-exec" in base64.b64decode(answer["stdout"]).decode()
    wait_for_status(bridge, "from-exec", "running")
