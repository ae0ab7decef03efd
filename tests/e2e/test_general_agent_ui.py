"""Issue 7 acceptance 2-3 in a real browser: a general-agent conversation from the home
screen, tool cards linking to the project they touched, and the offer to renew a revoked
token."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from accounts.models import ApiToken, User
from accounts.tokens import revoke_api_token
from projects.models import Kind, Project, Status
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import use_scripted_model, wait_for_status
from tests.e2e.test_workspace_chat import destroy, logged_in_page, running_project_for, send
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server"]


def test_general_agent_conversation_from_the_home_screen(
    live_stack: LiveStack,
    browser: Browser,
    settings: object,
    scripted_model_server: ScriptedModelServer,
) -> None:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    owner = User.objects.create_user("ivy@example.com", "pw-long-enough-1")
    use_scripted_model(owner, scripted_model_server.base_url)
    sales = running_project_for(owner, "Sales numbers")
    page = logged_in_page(browser, live_stack, owner)
    page.goto(live_stack.url + "/")
    page.click("[data-open-general-agent]")
    page.wait_for_url("**/agent/")
    # Opening the page creates nothing; its button (a POST) starts the agent.
    assert not Project.objects.filter(owner=owner, kind=Kind.GENERAL_AGENT).exists()
    with page.expect_navigation():
        page.get_by_role("button", name="Start the general agent").click()
    expect(page.locator("[data-start-general-agent]")).to_have_count(0)
    agent = Project.objects.get(owner=owner, kind=Kind.GENERAL_AGENT)
    wait_for_status(agent, Status.RUNNING, timeout=120)
    expect(page.locator(".panel-chat .composer-input").first).to_be_visible(timeout=60_000)
    expect(page.locator("#connection-state")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )

    arguments = {"project": "Sales numbers", "path": "from-agent.txt", "content": "hello"}
    send(page, f"[[tool: sprite_write {json.dumps(arguments)}]]")
    card = page.locator(".tool-card[data-tool-name='sprite_write']").first
    expect(card.locator(".tool-state")).to_have_text("done", timeout=60_000)
    link = card.locator("a.tool-project")
    expect(link).to_have_text("→ Sales numbers")
    expect(link).to_have_attribute("href", f"/p/{sales.public_id}/")
    expect(page.locator(".msg-assistant").last).to_contain_text("Done.", timeout=30_000)
    assert run_sync(backend_for(sales).read_file(sales.sprite_name, "from-agent.txt")) == b"hello"
    assert not page.locator("[data-agent-access-revoked]").is_visible()

    # The user revokes the agent's token: the page offers to renew it, and renewing works.
    for token in ApiToken.objects.for_user(owner).active().filter(scope="general_agent"):
        revoke_api_token(token)
    page.reload()
    banner = page.locator("[data-agent-access-revoked]")
    expect(banner).to_be_visible()
    banner.get_by_role("button", name="Renew access").click()
    page.wait_for_url("**/agent/")
    expect(page.locator("[data-agent-access-revoked]")).to_have_count(0)
    assert ApiToken.objects.for_user(owner).active().filter(scope="general_agent").count() == 1
    page.context.close()
    destroy(sales)
    destroy(agent)
