"""Issue 16 acceptance 1: the agent works through the model gateway, and no provider key
enters a Sprite.

The whole product: daphne serves the gateway at ``/gateway/``, the worker provisions a
sandboxed local Sprite whose pi is told only the gateway's URL and the project's token
(gateway/pi_config.py), and the scripted model server is the owner's custom provider, which
demands its real key. The owner has a built-in provider key too. The agent streams, calls a
tool and is aborted mid-stream; then every place a key could leak to is searched for the key
values: the environment and command line of every process of the Sprite (the bridge, pi, a
command run through exec), every file of the Sprite (its home and the bridge's run files, the
event log among them), and the events the bridge serves. Then the token is rotated (the old
one is refused, the Sprite gets the new one and keeps working) and the project destroyed
(its token is refused).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts import user_settings
from accounts.models import User
from bridge_agent.protocol import GATEWAY_TOKEN_VARIABLE
from gateway import tokens
from organisations import provider_settings
from organisations.personal import personal_organisation_of
from projects import actions
from projects.actions import create_project, perform
from projects.bridge.client import call_bridge, endpoint_for
from projects.models import Project, Status
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import wait_for, wait_for_status
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOM_KEY = "sk-custom-real-" + secrets.token_hex(8)
OPENAI_KEY = "sk-real-openai-" + secrets.token_hex(8)


@pytest.fixture
def keyed_model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(api_key=CUSTOM_KEY) as server:
        yield server


def events_of(project: Project) -> list[dict[str, Any]]:
    endpoint = endpoint_for(project)
    response = httpx.get(
        endpoint.base_url + "/starter/events",
        params={"after": "0", "replay_only": "1"},
        headers=dict(endpoint.headers),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


def of_type(events: list[dict[str, Any]], kind: str, session_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind and e["session_id"] == session_id]


def prompt(project: Project, message: str) -> tuple[str, int]:
    """Prompt the project's session; its id and how many runs it had ended before.

    The ended runs are counted before the prompt: a quick run (one tool call) can end before
    a count taken after it, which then waited for a run that never came."""
    ended_before = [e for e in events_of(project) if e["type"] == "agent_end"]
    answer = call_bridge(project, "POST", "/starter/prompt", json_body={"message": message})
    assert answer.status == 202, answer.body
    session_id = str(answer.body["session_id"])
    return session_id, sum(1 for e in ended_before if e["session_id"] == session_id)


def run_end(project: Project, run: tuple[str, int]) -> dict[str, Any]:
    """The ``agent_end`` of the run ``prompt`` started (waits for it)."""
    session_id, before = run
    wait_for(
        lambda: len(of_type(events_of(project), "agent_end", session_id)) > before,
        timeout=60,
        message=f"run {before + 1} to end",
    )
    return dict(of_type(events_of(project), "agent_end", session_id)[before]["data"])


def last_text(data: dict[str, Any]) -> str:
    message = data["messages"][-1]
    return "".join(p.get("text", "") for p in message["content"] if p["type"] == "text")


def exec_stdout(project: Project, command: str) -> str:
    result = run_sync(backend_for(project).exec(project.sprite_name, command, timeout=20))
    return result.stdout.decode()


def processes_holding(token: str) -> dict[int, bytes]:
    """Every process of this machine whose environment holds the project's gateway token
    (the Sprite's processes), with its environment and command line."""
    found: dict[int, bytes] = {}
    needle = f"{GATEWAY_TOKEN_VARIABLE}={token}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found[int(entry.name)] = environ + b"\0" + cmdline
    return found


def files_containing(root: Path, values: list[bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        try:
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        hits += [f"{path}: {value!r}" for value in values if value in data]
    return hits


def test_the_agent_works_through_the_gateway_and_no_key_enters_the_sprite(
    live_stack: LiveStack, settings: Any, keyed_model_server: ScriptedModelServer
) -> None:
    settings.DATA_DIR = live_stack.data_dir
    owner = User.objects.create_user("gwen@example.com", "pw-long-enough-1")
    provider_settings.set_api_key(personal_organisation_of(owner), owner, "openai", OPENAI_KEY)
    provider_settings.save_custom_provider(
        personal_organisation_of(owner),
        owner,
        "fake",
        "openai-completions",
        keyed_model_server.base_url,
        ["fake-model"],
        CUSTOM_KEY,
    )
    user_settings.update_defaults(owner, "fake", "fake-model", "off")
    project = wait_for_status(create_project(owner, "Gateway"), Status.RUNNING, timeout=120)

    # Streaming text, a tool call, an abort in the middle of a stream: as before.
    run = prompt(project, "[[reply: streamed through the gateway]]")
    assert last_text(run_end(project, run)) == "streamed through the gateway"
    session_id = run[0]
    assert len(of_type(events_of(project), "message_update", session_id)) >= 2  # deltas
    run = prompt(project, "[[bash: echo hi-from-the-sprite]]")
    assert "hi-from-the-sprite" in last_text(run_end(project, run))
    updates = len(of_type(events_of(project), "message_update", session_id))
    run = prompt(project, "[[slow: 300]]")
    wait_for(
        lambda: len(of_type(events_of(project), "message_update", session_id)) >= updates + 10,
        timeout=30,
        message="the slow answer streaming",
    )
    assert call_bridge(project, "POST", "/starter/abort", json_body={}).status < 300
    aborted = run_end(project, run)
    assert aborted["messages"][-1]["stopReason"] == "aborted", aborted["messages"][-1]

    # The model server saw only the real key; pi never had it.
    assert keyed_model_server.keys and set(keyed_model_server.keys) == {CUSTOM_KEY}
    token = tokens.token_for(project)
    values = [CUSTOM_KEY.encode(), OPENAI_KEY.encode()]

    command_env = exec_stdout(project, "cat /proc/self/environ; echo; printenv")
    assert token in command_env  # the control: the search finds what is there
    assert not [v for v in values if v.decode() in command_env]

    held = processes_holding(token)
    assert len(held) >= 2, held.keys()  # the bridge and pi at least
    for pid, data in held.items():
        assert not [v for v in values if v in data], pid

    sprite_dir = live_stack.data_dir / "sprites" / project.sprite_name
    assert (sprite_dir / "home").is_dir()
    assert files_containing(sprite_dir, [token.encode()]) == []  # not even the token on disk
    assert files_containing(sprite_dir, values) == []
    assert files_containing(sprite_dir, [b"hi-from-the-sprite"])  # the control: logs are there
    served = json.dumps(events_of(project))
    assert "hi-from-the-sprite" in served
    assert CUSTOM_KEY not in served and OPENAI_KEY not in served

    # From inside, the gateway's port answers and the dashboard's does not.
    curl = "curl -sS -m 5 -o /dev/null -w '%{http_code}' "
    assert exec_stdout(project, curl + live_stack.gateway_url + "/p/none/x").strip() == "401"
    assert exec_stdout(project, curl + live_stack.url + "/accounts/login/").strip() != "200"

    # Rotating: the old token is refused at once; the Sprite gets the new one and works on.
    requests_before = len(keyed_model_server.requests)
    actions.rotate_gateway_token(project)
    gateway = f"{live_stack.gateway_url}/p/fake/chat/completions"
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    refused = httpx.post(gateway, json=body, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401, refused.text
    assert len(keyed_model_server.requests) == requests_before
    new_token = tokens.token_for(project)
    wait_for(
        lambda: f"{GATEWAY_TOKEN_VARIABLE}={new_token}" in exec_stdout(project, "printenv"),
        timeout=60,
        message="the new token in the Sprite",
    )
    run = prompt(project, "[[reply: still working]]")
    assert last_text(run_end(project, run)) == "still working"
    assert keyed_model_server.keys[-1] == CUSTOM_KEY

    # Destroying the project deletes its token.
    perform(project, "destroy")
    wait_for(
        lambda: (
            not Project.objects.filter(pk=project.pk).exists()
            or Project.objects.get(pk=project.pk).status == Status.DESTROYED
        ),
        timeout=60,
        message="the project destroyed",
    )
    refused = httpx.post(gateway, json=body, headers={"Authorization": f"Bearer {new_token}"})
    assert refused.status_code == 401, refused.text
