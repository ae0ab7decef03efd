"""The services API against a real project: list, actions, log tail and cron runs through
the bridge's supervisor; an outsider finds nothing; bad names, actions and counts are clear
4xx; what a service prints comes back as text, whatever it looks like."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from accounts.models import User
from accounts.tokens import create_api_token
from bridge_agent.protocol import SERVICES_PATH
from projects.bridge.client import call_bridge
from projects.models import Project
from tests.relay.conftest import owner, owner_token, running_project, stack
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack

__all__ = ["owner", "owner_token", "running_project", "scripted_model_server", "stack"]

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE_LINE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _client(stack: LiveStack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _wait(check: Any, timeout: float = 30, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {message}")


def test_services_are_listed_controlled_and_their_logs_read(
    stack: LiveStack, owner_token: str, running_project: Project
) -> None:
    project = running_project
    call_bridge(
        project,
        "POST",
        SERVICES_PATH,
        json_body={
            "name": "web",
            "type": "app",
            "port": 3000,
            "command": f"echo '{HOSTILE_LINE}'; exec python3 -m http.server 3000",
        },
    )
    base = f"/projects/{project.public_id}/services"
    with _client(stack, owner_token) as api:

        def running() -> dict[str, Any] | None:
            listed = api.get(base)
            assert listed.status_code == 200, listed.text
            found = [s for s in listed.json()["services"] if s["name"] == "web"]
            return found[0] if found and found[0]["status"] == "running" else None

        web = _wait(running, message="the service to run")
        assert web["port"] == 3000 and web["type"] == "app" and web["desired"] == "running"

        logs = _wait(
            lambda: (r := api.get(f"{base}/web/logs", params={"lines": 50})).json()["lines"] and r,
            message="the log's first line",
        )
        assert HOSTILE_LINE in logs.json()["lines"]  # as text, unchanged
        assert logs.headers["content-type"].startswith("application/json")

        stopped = api.post(f"{base}/web/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["service"]["desired"] == "stopped"
        _wait(
            lambda: (
                next(s for s in api.get(base).json()["services"] if s["name"] == "web")["status"]
                == "stopped"
            ),
            message="the service to stop",
        )
        assert api.post(f"{base}/web/start").status_code == 200
        _wait(running, message="the service to run again")
        restarted = api.post(f"{base}/web/restart")
        assert restarted.status_code == 200

        # Clear 4xx: an unknown action or service, a name that is no name, a bad count.
        assert api.post(f"{base}/web/explode").status_code == 404
        assert api.post(f"{base}/nothing-here/stop").status_code == 404
        assert api.get(f"{base}/..%2Fetc/logs").status_code == 404
        assert api.get(f"{base}/Web%3Cb%3E/logs").status_code == 404
        assert api.get(f"{base}/web/logs", params={"lines": 0}).status_code == 422
        assert api.get(f"{base}/web/logs", params={"lines": 5000}).status_code == 422
        assert api.get(f"{base}/web/logs", params={"lines": "many"}).status_code == 422


def test_a_cron_job_run_now_is_listed_with_its_exit_code(
    stack: LiveStack, owner_token: str, running_project: Project
) -> None:
    project = running_project
    call_bridge(
        project,
        "POST",
        SERVICES_PATH,
        json_body={
            "name": "report",
            "type": "cron",
            "schedule": "0 3 * * *",
            "command": "echo report-ran; exit 3",
        },
    )
    base = f"/projects/{project.public_id}/services"
    with _client(stack, owner_token) as api:
        ran = api.post(f"{base}/report/run")
        assert ran.status_code == 200, ran.text
        runs = _wait(
            lambda: [r for r in api.get(f"{base}/report/runs").json()["runs"] if r["ended_at"]],
            message="the run to end",
        )
        assert runs[0]["exit_code"] == 3
        assert runs[0]["trigger"] == "manual"
        assert "report-ran" in runs[0]["output"]
        listed = next(s for s in api.get(base).json()["services"] if s["name"] == "report")
        assert listed["type"] == "cron" and listed["schedule"] == "0 3 * * *"


def test_an_outsider_finds_no_services(stack: LiveStack, running_project: Project) -> None:
    outsider = User.objects.create_user("services-outsider@example.com", "pw-long-enough-1")
    token = create_api_token(outsider, "outsider")[1]
    base = f"/projects/{running_project.public_id}/services"
    with _client(stack, token) as api:
        for response in (
            api.get(base),
            api.post(f"{base}/web/stop"),
            api.get(f"{base}/web/logs"),
            api.get(f"{base}/web/runs"),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"] == "not_found"
    with httpx.Client(base_url=stack.url + "/api/v1", timeout=30) as anonymous:
        assert anonymous.get(base).status_code == 401
