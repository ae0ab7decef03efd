"""Issue 15 acceptance 4: changing a secret or a key never kills work.

The whole product: the dashboard saves, the Celery worker syncs, the local backend hands the
set to the bridge, pi runs the scripted model. A run that streams while a project secret or a
provider key is saved ends as it would have (never ``interrupted``, the same pi process); new
commands see a new secret at once; the agent's next run sees it. A provider key never enters
a Sprite (issue 16: the gateway adds it to each call); saving one tells the Sprites' pi that
the provider is usable, through the gateway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client

from accounts.models import User
from projects.actions import create_project
from projects.bridge.client import call_bridge, endpoint_for
from projects.models import Project, Status
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import use_scripted_model, wait_for, wait_for_status
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_VALUE = "weather-key-value-5c1e0b"
OPENAI_KEY = "sk-openai-key-value-77a0d3"
# About 25 s of streaming: the run must still be going once every project has the new
# environment, which under parallel suites took longer than 8 s.
SLOW_RUN = "[[slow: 250]]"


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


def events_of(project: Project) -> list[dict[str, Any]]:
    """Every event the bridge keeps (a replay, read the way the relay catches up)."""
    endpoint = endpoint_for(project)
    response = httpx.get(
        endpoint.base_url + "/starter/events",
        params={"after": "0", "replay_only": "1"},
        headers=dict(endpoint.headers),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


def of_type(events: list[dict[str, Any]], kind: str, session_id: str | None = None) -> list[Any]:
    return [
        e
        for e in events
        if e["type"] == kind and (session_id is None or e["session_id"] == session_id)
    ]


def start_slow_run(project: Project) -> str:
    answer = call_bridge(project, "POST", "/starter/prompt", json_body={"message": SLOW_RUN})
    assert answer.status == 202, answer.body
    session_id = str(answer.body["session_id"])
    wait_for(
        lambda: bool(of_type(events_of(project), "message_update", session_id)),
        timeout=30,
        message="the slow run streaming",
    )
    return session_id


def pi_pid(events: list[dict[str, Any]], session_id: str) -> int:
    return int(of_type(events, "session_started", session_id)[-1]["data"]["pid"])


def exec_stdout(project: Project, command: str) -> str:
    result = run_sync(backend_for(project).exec(project.sprite_name, command, timeout=20))
    return result.stdout.decode().strip()


def tool_outputs(project: Project) -> str:
    messages = call_bridge(project, "GET", "/starter/messages").body["messages"]
    return "\n".join(
        part.get("text", "")
        for message in messages
        if message.get("role") == "toolResult"
        for part in message.get("content", [])
    )


def assert_run_undisturbed(project: Project, session_id: str, pid_during_run: int) -> None:
    """The run ended by itself, in the pi process it started in; pi restarted only after."""
    wait_for(
        lambda: bool(of_type(events_of(project), "agent_settled", session_id)),
        timeout=60,
        message="the slow run to settle",
    )
    events = events_of(project)
    end = of_type(events, "agent_end", session_id)[-1]
    assert end["data"].get("interrupted") is not True, end["data"]
    started_before_end = [
        e for e in of_type(events, "session_started", session_id) if e["id"] < end["id"]
    ]
    assert started_before_end[-1]["data"]["pid"] == pid_during_run
    ended_before = [e for e in of_type(events, "session_ended", session_id) if e["id"] < end["id"]]
    assert ended_before == [] or ended_before[-1]["id"] < started_before_end[-1]["id"]


def test_saving_a_secret_while_a_run_streams_leaves_the_run_alone(
    live_stack: LiveStack, settings: object, model_server: ScriptedModelServer
) -> None:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    owner = User.objects.create_user("hal@example.com", "pw-long-enough-1")
    use_scripted_model(owner, model_server.base_url)
    project = wait_for_status(create_project(owner, "Streaming"), Status.RUNNING)
    session_id = start_slow_run(project)
    pid_during_run = pi_pid(events_of(project), session_id)

    browser = Client()
    browser.force_login(owner)
    response = browser.post(
        f"/p/{project.public_id}/secrets/",
        {"name": "WEATHER_KEY", "value": SECRET_VALUE},
        follow=True,
    )
    assert "the agent picks it up when its current run ends" in response.content.decode()
    # The worker handed the set to the bridge while the run was going.
    wait_for(
        lambda: any(
            e["data"]["applied"] == "after_run" and session_id in e["data"]["pending_sessions"]
            for e in of_type(events_of(project), "environment_changed")
        ),
        timeout=30,
        message="environment_changed after_run",
    )
    assert call_bridge(project, "GET", "/starter/state").body["busy"] is True
    # A new command has the value at once.
    assert exec_stdout(project, "printenv WEATHER_KEY") == SECRET_VALUE

    assert_run_undisturbed(project, session_id, pid_during_run)
    wait_for(
        lambda: any(
            e["data"]["applied"] == "now"
            for e in of_type(events_of(project), "environment_changed", session_id)
        ),
        timeout=30,
        message="the session picking the value up after its run",
    )
    digest = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
    answer = call_bridge(
        project,
        "POST",
        "/starter/prompt",
        json_body={"message": "[[bash: printenv WEATHER_KEY | tr -d '\\n' | sha256sum]]"},
    )
    assert answer.status == 202 and answer.body["session_id"] == session_id
    wait_for(lambda: digest in tool_outputs(project), timeout=60, message="the digest")


def test_saving_a_provider_key_does_not_interrupt_a_busy_project(
    live_stack: LiveStack, settings: object, model_server: ScriptedModelServer
) -> None:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    owner = User.objects.create_user("ivy@example.com", "pw-long-enough-1")
    use_scripted_model(owner, model_server.base_url)
    projects = [create_project(owner, f"Project {n}") for n in range(3)]
    for project in projects:
        wait_for_status(project, Status.RUNNING, timeout=120)
    busy = projects[0]
    session_id = start_slow_run(busy)
    pid_during_run = pi_pid(events_of(busy), session_id)

    browser = Client()
    browser.force_login(owner)
    response = browser.post(
        "/settings/api-keys/", {"provider": "openai", "key": OPENAI_KEY}, follow=True
    )
    assert response.status_code == 200
    assert "applies to every project&#x27;s next model call" in response.content.decode()
    # The key stays on the platform: the Sprites learn that pi may use OpenAI through the
    # gateway (models.json, and its fingerprint in the environment), never the key.
    for project in projects:
        wait_for(
            lambda project=project: (
                "/gateway/p/openai" in exec_stdout(project, "cat .pi/agent/models.json")
            ),
            timeout=60,
            message=f"OpenAI in {project.name}'s models.json",
        )
        environment = exec_stdout(project, "printenv")
        assert OPENAI_KEY not in environment and "OPENAI_API_KEY" not in environment
        assert "STARTER_GATEWAY_TOKEN=sgw_" in environment
    assert call_bridge(busy, "GET", "/starter/state").body["busy"] is True
    assert_run_undisturbed(busy, session_id, pid_during_run)
