"""Issue 6, acceptance 1: the whole flow with only HTTP and a token, against the running
product (daphne + Celery worker + a real local Sprite with the bridge and pi)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts.models import User
from accounts.tokens import create_api_token
from tests.e2e.helpers import use_scripted_model
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(
    live_stack: LiveStack, settings: Any, scripted_model_server: ScriptedModelServer
) -> Iterator[httpx.Client]:
    settings.DATA_DIR = live_stack.data_dir
    user = User.objects.create_user("api-flow@example.com", "pw-long-enough-1")
    use_scripted_model(user, scripted_model_server.base_url)
    _, token = create_api_token(user, "e2e")
    with httpx.Client(
        base_url=live_stack.url + "/api/v1",
        timeout=60,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


def wait_until(check: Any, timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def retry_busy(response: httpx.Response) -> httpx.Response | None:
    return None if response.status_code == 409 else response


def read_events(
    api: httpx.Client,
    project_id: str,
    *,
    until: str,
    headers: dict[str, str] | None = None,
    after: int | None = 0,
    timeout: float = 60,
) -> list[dict[str, Any]]:
    """Follow the SSE stream like `curl -N` does, until an event of type `until`."""
    events: list[dict[str, Any]] = []
    params = {"after": str(after)} if after is not None else {}
    deadline = time.monotonic() + timeout
    with api.stream(
        "GET",
        f"/projects/{project_id}/events",
        params=params,
        headers=headers or {},
        timeout=httpx.Timeout(timeout),
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"no {until} event in {timeout}s: {events}"
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
                if events[-1]["type"] == until:
                    return events
    raise AssertionError(f"the stream ended before {until}: {events}")


def test_whole_flow_with_only_http_and_a_token(api: httpx.Client) -> None:
    created = api.post("/projects", json={"name": "API flow"})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    assert created.json()["status"] == "creating"

    def running() -> bool:
        project = api.get(f"/projects/{project_id}").json()
        assert project["status"] != "error", project["status_message"]
        return project["status"] == "running"

    wait_until(running, 90, "running")

    # Prompt, then read the events until the run ends.
    answer = api.post(f"/projects/{project_id}/prompt", json={"message": "[[bash: echo hi]]"})
    assert answer.status_code == 202, answer.text
    events = read_events(api, project_id, until="agent_end")
    ids = [event["id"] for event in events]
    assert ids == sorted(set(ids)), "event ids strictly increase"
    types = [event["type"] for event in events]
    assert "tool_start" in types and "tool_end" in types
    assert {"id", "session_id", "type", "data", "ts"} <= set(events[-1])

    # Resuming with Last-Event-ID replays exactly what came after it.
    resumed = read_events(
        api, project_id, until="agent_end", after=None, headers={"Last-Event-ID": str(ids[-2])}
    )
    assert [event["id"] for event in resumed] == [ids[-1]]

    messages = api.get(f"/projects/{project_id}/messages").json()["messages"]
    tool_output = [
        part.get("text", "")
        for message in messages
        if message.get("role") == "toolResult"
        for part in message["content"]
    ]
    assert any("hi" in text for text in tool_output), messages

    # A secret reaches commands as an environment variable; its value is never returned.
    secret = api.put(
        f"/projects/{project_id}/secrets/GREETING", json={"value": "hello-from-a-secret"}
    )
    assert secret.status_code == 200, secret.text
    assert "hello-from-a-secret" not in secret.text
    assert [item["name"] for item in api.get(f"/projects/{project_id}/secrets").json()] == [
        "GREETING"
    ]

    def printenv() -> dict[str, Any] | None:
        result = api.post(
            f"/projects/{project_id}/exec",
            json={"command": ["printenv", "GREETING"], "timeout": 10},
        )
        if result.status_code != 200:  # the bridge restarts with the new environment
            return None
        return result.json() if result.json()["exit_code"] == 0 else None

    result = wait_until(printenv, 30, "printenv GREETING")
    assert result["stdout"] == "hello-from-a-secret\n"
    assert result["timed_out"] is False and result["truncated"] is False

    # Files: write, read back (text and bytes), list.
    written = api.put(
        f"/projects/{project_id}/files/content",
        json={"path": "notes/hello.txt", "content": "first version"},
    )
    assert written.json() == {"path": "notes/hello.txt", "size": 13}
    read = api.get(f"/projects/{project_id}/files/content", params={"path": "notes/hello.txt"})
    assert read.json()["content"] == "first version" and read.json()["encoding"] == "text"
    blob = bytes(range(256))
    api.put(
        f"/projects/{project_id}/files/content",
        json={"path": "blob.bin", "content": base64.b64encode(blob).decode(), "encoding": "base64"},
    ).raise_for_status()
    read_blob = api.get(f"/projects/{project_id}/files/content", params={"path": "blob.bin"})
    assert read_blob.json()["encoding"] == "base64"
    assert base64.b64decode(read_blob.json()["content"]) == blob
    listing = api.get(f"/projects/{project_id}/files", params={"path": "notes"}).json()
    assert [entry["name"] for entry in listing["entries"]] == ["hello.txt"]

    # Checkpoint, change the file, restore: the first version is back.
    # The secret's environment sync may still hold the project: a 409 says to try again.
    checkpoint = wait_until(
        lambda: retry_busy(
            api.post(f"/projects/{project_id}/checkpoints", json={"comment": "first"})
        ),
        60,
        "a checkpoint",
    )
    assert checkpoint.status_code == 201, checkpoint.text
    api.put(
        f"/projects/{project_id}/files/content",
        json={"path": "notes/hello.txt", "content": "second version"},
    ).raise_for_status()
    assert [item["id"] for item in api.get(f"/projects/{project_id}/checkpoints").json()] == [
        checkpoint.json()["id"]
    ]
    restored = api.post(f"/projects/{project_id}/checkpoints/{checkpoint.json()['id']}/restore")
    assert restored.status_code == 200, restored.text
    read = api.get(f"/projects/{project_id}/files/content", params={"path": "notes/hello.txt"})
    assert read.json()["content"] == "first version"

    # Destroy: accepted with a task id, then the project is gone.
    destroyed = api.delete(f"/projects/{project_id}")
    assert destroyed.status_code == 202, destroyed.text
    assert destroyed.json()["status"] == "destroying" and destroyed.json()["task_id"]
    wait_until(lambda: api.get(f"/projects/{project_id}").status_code == 404, 60, "destroyed")
    assert project_id not in [item["id"] for item in api.get("/projects").json()["items"]]


def connections_to(port: int) -> int:
    """Established TCP connections to 127.0.0.1:`port` on this machine (client side)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01":
            count += 1
    return count


def test_event_streams_close_upstream_when_the_client_goes(
    api: httpx.Client, live_stack: LiveStack
) -> None:
    project_id = api.post("/projects", json={"name": "Streams"}).json()["id"]
    wait_until(
        lambda: api.get(f"/projects/{project_id}").json()["status"] == "running", 90, "running"
    )
    sprite = next((live_stack.data_dir / "sprites").glob(f"*{project_id}*"))
    bridge_port = int((sprite / "run" / "bridge.port").read_text())
    streams = [api.stream("GET", f"/projects/{project_id}/events") for _ in range(3)]
    for stream in streams:
        assert stream.__enter__().status_code == 200
    wait_until(lambda: connections_to(bridge_port) >= 3, 10, "three upstream streams")
    for stream in streams:
        stream.__exit__(None, None, None)
    wait_until(lambda: connections_to(bridge_port) == 0, 20, "upstream streams closed")
    api.delete(f"/projects/{project_id}").raise_for_status()


def test_a_project_cannot_reach_the_dashboards_own_web_port(
    api: httpx.Client, live_stack: LiveStack
) -> None:
    """The web process answers this test on its loopback port; from inside the project's
    Sprite, through the REST API's exec, the same URL does not answer."""
    project_id = api.post("/projects", json={"name": "No way home"}).json()["id"]
    wait_until(
        lambda: api.get(f"/projects/{project_id}").json()["status"] == "running", 90, "running"
    )
    login = f"{live_stack.url}/accounts/login/"
    assert httpx.get(login).status_code == 200
    response = api.post(
        f"/projects/{project_id}/exec",
        json={"command": f"curl -sS -m 5 -o /dev/null -w '%{{http_code}}' {login}", "timeout": 30},
    )
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["exit_code"] != 0 and outcome["stdout"] != "200", outcome
    api.delete(f"/projects/{project_id}").raise_for_status()


def test_files_refuse_symlinks_out_of_the_home_and_exec_caps_output(api: httpx.Client) -> None:
    project_id = api.post("/projects", json={"name": "Confined"}).json()["id"]
    wait_until(
        lambda: api.get(f"/projects/{project_id}").json()["status"] == "running", 90, "running"
    )

    def run(command: str, timeout: float = 30) -> dict[str, Any]:
        response = api.post(
            f"/projects/{project_id}/exec", json={"command": command, "timeout": timeout}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert run("ln -s /etc/passwd leak && ln -s / root && echo made")["stdout"] == "made\n"
    refused = [
        api.get(f"/projects/{project_id}/files/content", params={"path": "leak"}),
        api.get(f"/projects/{project_id}/files", params={"path": "root/etc"}),
        api.put(
            f"/projects/{project_id}/files/content",
            json={"path": "root/tmp/escaped.txt", "content": "x"},
        ),
    ]
    for response in refused:
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid"
        assert "outside" in response.json()["message"]

    big = run("head -c 3000000 /dev/zero | tr '\\0' a; echo done >&2")
    assert big["truncated"] is True and len(big["stdout"]) == 1024 * 1024
    assert big["stderr"] == "done\n" and big["exit_code"] == 0

    slow = run("sleep 20", timeout=1)
    assert slow["timed_out"] is True and slow["duration_seconds"] < 10

    failing = run("exit 3")
    assert failing["exit_code"] == 3 and failing["timed_out"] is False

    api.delete(f"/projects/{project_id}").raise_for_status()


def test_text_that_is_not_unicode_is_a_4xx_never_a_500(api: httpx.Client) -> None:
    project_id = api.post("/projects", json={"name": "Not Unicode"}).json()["id"]
    wait_until(
        lambda: api.get(f"/projects/{project_id}").json()["status"] == "running", 90, "running"
    )
    json_headers = {"Content-Type": "application/json"}
    lone_surrogates = [
        api.post(
            f"/projects/{project_id}/exec",
            content=b'{"command": "echo \\ud800"}',
            headers=json_headers,
        ),
        api.put(
            f"/projects/{project_id}/files/content",
            content=b'{"path": "\\udced.txt", "content": "x"}',
            headers=json_headers,
        ),
    ]
    for response in lone_surrogates:
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "validation_error"

    broken_utf8 = api.get(f"/projects/{project_id}/files/content?path=%ED%A0%80")
    assert 400 <= broken_utf8.status_code < 500, broken_utf8.text
    assert set(broken_utf8.json()) == {"error", "message", "detail"}

    # A file whose name is not UTF-8 (the agent may make one) can still be listed around.
    made = api.post(
        f"/projects/{project_id}/exec", json={"command": "touch $'bad-\\xed\\xa0\\x80-name'"}
    )
    assert made.status_code == 200 and made.json()["exit_code"] == 0, made.text
    listing = api.get(f"/projects/{project_id}/files", params={"path": "."})
    assert listing.status_code < 500, listing.text
    api.delete(f"/projects/{project_id}").raise_for_status()
