"""The starter extension (tools, port detection, prompt context) and the inspect DB."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from bridge_agent.config import EXTENSION_PATH
from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.sample_app import SampleApp
from tests.support.bridge_process import PROJECT_ROOT, BridgeProcess, EventStream
from tests.support.model_server import ScriptedModelServer

SECRET_VALUE = "sk-live-never-in-the-context-0042"


@pytest.fixture(scope="module")
def bridge(
    tmp_path_factory: pytest.TempPathFactory, scripted_model_server: ScriptedModelServer
) -> Iterator[BridgeProcess]:
    from tests.support.model_server import write_pi_config

    home = tmp_path_factory.mktemp("extension") / "home"
    write_pi_config(home, scripted_model_server.base_url)
    env = {"STARTER_SECRET_NAMES": "STRIPE_KEY,GMAIL_TOKEN", "STRIPE_KEY": SECRET_VALUE}
    with BridgeProcess(home, prewarm=True, env=env) as bridge:
        yield bridge


@pytest.fixture
def events(bridge: BridgeProcess) -> Iterator[EventStream]:
    with EventStream(bridge) as stream:
        yield stream


def run(bridge: BridgeProcess, events: EventStream, message: str) -> list[dict]:
    start = len(events.events)
    with bridge.client() as client:
        response = client.post("/starter/prompt", json={"message": message})
    assert response.status_code == 202, response.text
    events.wait_type("agent_end", response.json()["session_id"], start=start)
    return events.events[start:]


def test_notify_dashboard_tool_becomes_a_notify_event(
    bridge: BridgeProcess, events: EventStream
) -> None:
    args = {"message": "The app is ready", "type": "success", "refreshIframe": True}
    run(bridge, events, f"[[tool: notify_dashboard {json.dumps(args)}]]")
    notify = events.wait_type("notify")
    assert notify["data"] == {
        "message": "The app is ready",
        "level": "success",
        "refresh_iframe": True,
    }
    assert notify["session_id"]


def test_request_secret_asks_the_dashboard_and_keeps_values_out_of_the_model(
    bridge: BridgeProcess, events: EventStream, scripted_model_server: ScriptedModelServer
) -> None:
    args = {"name": "openai_key", "reason": "to call the OpenAI API"}
    run(bridge, events, f"[[tool: request_secret {json.dumps(args)}]] marker-secret")
    requested = events.wait_type("secret_requested")
    assert requested["data"] == {"name": "OPENAI_KEY", "reason": "to call the OpenAI API"}
    request = scripted_model_server.wait_for_request(lambda b: "marker-secret" in json.dumps(b))
    system = request["messages"][0]["content"]
    assert "STRIPE_KEY" in system and "GMAIL_TOKEN" in system
    assert SECRET_VALUE not in json.dumps(scripted_model_server.requests)


def test_pi_gets_the_secrets_but_not_the_bridge_token(
    bridge: BridgeProcess, events: EventStream
) -> None:
    command = (
        f'test "$STRIPE_KEY" = "{SECRET_VALUE}" && echo has-secret; '
        'test -z "$STARTER_BRIDGE_TOKEN" && echo no-bridge-token'
    )
    new = run(bridge, events, f"[[bash: {command}]]")
    tool_end = next(e for e in new if e["type"] == "tool_end")
    assert tool_end["data"]["text"] == "has-secret\nno-bridge-token\n"


def test_system_prompt_describes_the_sprite_and_the_inspect_schema(
    bridge: BridgeProcess, events: EventStream, scripted_model_server: ScriptedModelServer
) -> None:
    run(bridge, events, "marker-context")
    request = scripted_model_server.wait_for_request(lambda b: "marker-context" in json.dumps(b))
    system = request["messages"][0]["content"]
    assert "Sprite" in system and "port 3000" in system
    for table in ("integrations", "services", "assets"):
        assert f"CREATE TABLE IF NOT EXISTS {table}" in system
    tools = {tool["function"]["name"] for tool in request["tools"]}
    assert {"bash", "notify_dashboard", "request_secret"} <= tools


def test_dev_server_line_retargets_the_proxy(start_bridge: StartBridge) -> None:
    bridge = start_bridge(prewarm=True)
    with SampleApp() as sample, EventStream(bridge) as events:
        line = f"  ➜  Local:   http://localhost:{sample.port}/"
        run(bridge, events, f"[[bash: echo '{line}']]")
        changed = events.wait_type("app_port")
        assert changed["data"]["port"] == sample.port
        assert changed["data"]["previous"] == 3000
        with bridge.client() as client:
            assert client.get("/").text == "<h1>Sample app</h1>"
            assert client.get("/starter/state").json()["app_port"] == sample.port


def test_inspect_db_is_created_with_the_seed_schema(bridge: BridgeProcess) -> None:
    with bridge.client() as client:
        tables = client.get("/starter/inspect").json()
    assert set(tables) == {"integrations", "services", "assets"}
    with sqlite3.connect(bridge.home / "inspect.db") as db:
        columns = {
            table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            for table in ("integrations", "services", "assets")
        }
    stamps = ["created_at", "updated_at"]
    assert columns == {
        "integrations": ["id", "name", "status", "secrets", "description", *stamps],
        "services": ["id", "name", "type", "port", "schedule", "status", "description", *stamps],
        "assets": ["id", "name", "type", "path", "description", *stamps],
    }


def test_agent_write_to_inspect_db_emits_inspect_changed_within_a_second(
    bridge: BridgeProcess, events: EventStream
) -> None:
    sql = (
        "INSERT INTO services (id, name, type, port, status)"
        " VALUES ('web', 'Web', 'app', 3000, 'running')"
    )
    command = (
        "python3 -c \"import sqlite3; c = sqlite3.connect('inspect.db');"
        f' c.execute(\\"{sql}\\"); c.commit()"'
    )
    new = run(bridge, events, f"[[bash: {command}]]")
    tool_end = next(e for e in new if e["type"] == "tool_end")
    changed = events.wait_type("inspect_changed", timeout=3)
    assert changed["data"]["counts"]["services"] == 1
    assert tool_end["data"]["isError"] is False
    # The write happened inside the tool call, so before tool_end was stamped.
    assert stamp(changed) - stamp(tool_end) < 1.0
    received = httpx.get(f"{bridge.url}/starter/inspect", headers=bridge.headers).json()
    assert [(s["id"], s["port"], s["status"]) for s in received["services"]] == [
        ("web", 3000, "running")
    ]


def stamp(event: dict) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def test_inspect_changed_follows_an_outside_write_within_a_second(
    bridge: BridgeProcess, events: EventStream
) -> None:
    start = len(events.events)
    with sqlite3.connect(bridge.home / "inspect.db") as db:
        db.execute(
            "INSERT INTO assets (id, name, type, path)"
            " VALUES ('r1', 'Report', 'document', '/r.pdf')"
        )
    written = time.monotonic()
    events.wait_type("inspect_changed", timeout=1.0, start=start)
    assert time.monotonic() - written < 1.0


def test_app_port_patterns_of_common_dev_servers() -> None:
    cases = {
        "Listening on port 3000": 3000,
        "Server listening on http://0.0.0.0:8081": 8081,
        "  ➜  Local:   http://localhost:5173/": 5173,
        "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)": 8000,
        "Starting development server at http://127.0.0.1:8001/": 8001,
        " * Running on http://127.0.0.1:5000": 5000,
        "   - Local:        http://localhost:3001": 3001,
        "ready - started server on 0.0.0.0:3002, url: http://localhost:3002": 3002,
        "Serving HTTP on 0.0.0.0 port 8080 (http://0.0.0.0:8080/) ...": 8080,
        "[INFO] Listening at: http://127.0.0.1:8002 (123)": 8002,
        "Listening on 127.0.0.1:4000": 4000,
        "\x1b[32mListening on port 4001\x1b[0m": 4001,
        "nothing to see here": None,
        "Listening on port 9999": None,  # the bridge's own port is never a target
    }
    script = f"""
    const {{ createJiti }} = require("jiti");
    const jiti = createJiti(process.cwd() + "/");
    jiti.import({json.dumps(str(EXTENSION_PATH))}).then((mod) => {{
      const lines = {json.dumps(list(cases))};
      console.log(JSON.stringify(lines.map((l) => mod.detectAppPort(l, 9999)?.port ?? null)));
    }});
    """
    output = subprocess.run(
        [str(PROJECT_ROOT / "node_modules" / ".bin" / "node"), "-e", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert output.returncode == 0, output.stderr
    assert json.loads(output.stdout) == list(cases.values())
