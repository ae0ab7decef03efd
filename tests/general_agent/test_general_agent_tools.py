"""Issue 7 acceptance 1-2: the general agent's tools, driven by the scripted model through
the real bridge and pi, against the live control plane's REST API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.models import ApiToken, User
from accounts.tokens import revoke_api_token
from projects.actions import create_project
from projects.bridge.client import BridgeError, call_bridge
from projects.general_agent import access_is_active, ensure_general_agent, renew_access
from projects.models import Kind, Project, Status
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import use_scripted_model, wait_for, wait_for_status
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


def _tool(tool_name: str, arguments: dict[str, Any]) -> str:
    return f"[[tool: {tool_name} {json.dumps(arguments)}]]"


def _last_tool_result(agent: Project, tool_name: str, seen: int) -> dict[str, Any] | None:
    messages = call_bridge(agent, "GET", "/starter/messages").body["messages"]
    results = [
        m for m in messages if m.get("role") == "toolResult" and m.get("toolName") == tool_name
    ]
    return results[-1] if len(results) > seen else None


def _run_tool(agent: Project, tool_name: str, **arguments: Any) -> tuple[str, bool]:
    messages = call_bridge(agent, "GET", "/starter/messages").body["messages"]
    seen = sum(
        1 for m in messages if m.get("role") == "toolResult" and m.get("toolName") == tool_name
    )
    wait_for(
        lambda: (
            not call_bridge(agent, "GET", "/starter/state").body.get("is_streaming", False)
            and not call_bridge(agent, "GET", "/starter/state").body.get("isStreaming", False)
        ),
        timeout=30,
        message="the agent to be idle",
    )
    call_bridge(
        agent, "POST", "/starter/prompt", json_body={"message": _tool(tool_name, arguments)}
    )
    holder: dict[str, Any] = {}

    def finished() -> bool:
        result = _last_tool_result(agent, tool_name, seen)
        if result is not None:
            holder["result"] = result
        return result is not None

    wait_for(finished, timeout=60, message=f"the result of {tool_name}")
    result = holder["result"]
    text = "\n".join(part.get("text", "") for part in result.get("content", []))
    return text, bool(result.get("isError"))


def test_general_agent_tools_reach_only_the_users_projects(
    live_stack: LiveStack,
    settings: object,
    model_server: ScriptedModelServer,
) -> None:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    alice = User.objects.create_user("gina@example.com", "pw-long-enough-1")
    bob = User.objects.create_user("hank@example.com", "pw-long-enough-1")
    use_scripted_model(alice, model_server.base_url)
    sales = create_project(alice, "Sales numbers")
    bobs = Project.objects.create(owner=bob, name="Bob private plans", status=Status.RUNNING)
    agent = ensure_general_agent(alice)
    assert agent.kind == Kind.GENERAL_AGENT
    wait_for_status(sales, Status.RUNNING)
    wait_for_status(agent, Status.RUNNING)

    text, is_error = _run_tool(agent, "list_projects")
    assert not is_error, text
    assert "Sales numbers" in text and sales.public_id in text
    assert "Bob private plans" not in text and bobs.public_id not in text
    assert "General agent" not in text  # its own Sprite is not a project to work on

    text, is_error = _run_tool(agent, "sprite_exec", project=bobs.public_id, command="id")
    assert is_error and "no such project" in text

    text, is_error = _run_tool(
        agent,
        "sprite_write",
        project="Sales numbers",
        path="notes/contracts.md",
        content="Supplier contract: ACME\n",
    )
    assert not is_error, text
    assert (
        run_sync(backend_for(sales).read_file(sales.sprite_name, "notes/contracts.md"))
        == b"Supplier contract: ACME\n"
    )
    text, is_error = _run_tool(
        agent, "sprite_read", project=sales.public_id, path="notes/contracts.md"
    )
    assert not is_error and "Supplier contract: ACME" in text

    text, is_error = _run_tool(agent, "search_projects", query="supplier contract")
    assert not is_error and "contracts.md" in text and "Sales numbers" in text

    text, is_error = _run_tool(
        agent, "create_project", name="Expenses", description="Track spending"
    )
    assert not is_error, text
    created = Project.objects.get(owner=alice, name="Expenses")
    wait_for_status(created, Status.RUNNING)

    # Revoking the token cuts the agent off with a clear error; renewing restores it.
    for token in ApiToken.objects.for_user(alice).active().filter(scope="general_agent"):
        revoke_api_token(token)
    assert not access_is_active(agent)
    text, is_error = _run_tool(agent, "list_projects")
    assert is_error and "revoked" in text and "renew" in text
    renew_access(agent)
    assert access_is_active(agent)

    def works_again() -> bool:
        try:
            text, is_error = _run_tool(agent, "list_projects")
        except BridgeError:  # the bridge restarts with the new environment meanwhile
            return False
        return not is_error and "Sales numbers" in text

    wait_for(works_again, timeout=90, interval=2, message="the renewed token to reach the agent")
