"""Budgets and the loop guard through the real gateway (issue 16, acceptance 4 and 5).

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, whose every model call goes through the gateway; the model is the scripted
model server as a custom provider with prices (1000 $ per million input and output tokens),
so ``[[usage: 100 50]]`` makes every call cost exactly $0.15.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import CustomProvider, User
from accounts.tokens import create_api_token
from bridge_agent.protocol import gateway_marker
from gateway import budgets, limits
from organisations.personal import personal_organisation_of
from projects.models import Project
from tests.e2e.helpers import wait_for
from tests.e2e.test_workspace_chat import (
    logged_in_page,
    open_workspace,
    owner_with_running_project,
    panel_session_ids,
    screenshot_dir,
    send,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

PRICE = Decimal("1000")  # dollars per million tokens, input and output
USAGE = "[[usage: 100 50]]"  # 100 · 1000/1e6 + 50 · 1000/1e6 = $0.15 a call
BUSY = re.compile(r"\bis-busy\b")


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        f"budget-{uuid.uuid4().hex[:8]}@example.com", "Budgets", scripted_model_server
    ) as (owner, project):
        CustomProvider.objects.filter(
            organisation=personal_organisation_of(owner), name="fake"
        ).update(price_input=PRICE, price_output=PRICE)
        yield owner, project


def calls_with(server: ScriptedModelServer, token: str) -> int:
    """How many model calls reached the model server for the prompt holding ``token``."""
    return sum(1 for body in list(server.requests) if token in json.dumps(body))


def api(stack: LiveStack, owner: User) -> httpx.Client:
    _, raw = create_api_token(owner, "budget test")
    return httpx.Client(
        base_url=f"{stack.url}/api/v1", headers={"Authorization": f"Bearer {raw}"}, timeout=30
    )


def test_a_small_budget_refuses_the_call_that_would_cross_it_until_it_is_raised(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    # Two calls of $0.15 fit; the third would make $0.45 > $0.40.
    budgets.set_project_budget(project, "0.40")
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first
    token = f"budget-{uuid.uuid4().hex[:8]}"
    send(page, f"[[bash: echo one]] [[bash: echo two]] [[bash: echo three]] {USAGE} {token}")

    card = chat.locator(".gateway-card-budget")
    expect(card).to_be_visible(timeout=60_000)
    expect(card).to_contain_text("Budget reached")
    expect(card).to_contain_text("This project's monthly budget: $0.30 spent of $0.40")
    time.sleep(1)  # nothing more may come
    assert calls_with(scripted_model_server, token) == 2
    # The bridge turned pi's error into its event (for API clients; the page only re-reads).
    refused = page.evaluate(
        "window.starterWorkspace.events.ring.filter(e => e.type === 'gateway_refused')"
        ".map(e => e.data)"
    )
    assert [(event["code"], event["details"]) for event in refused] == [
        (
            "budget_reached",
            {
                "scope": "project",
                "spent": "0.30",
                "limit": "0.40",
                "month": refused[0]["details"]["month"],
            },
        )
    ]
    assert "out of budget" in refused[0]["message"]
    # The page's state comes from the control plane: composer off, with the reason.
    expect(page.locator("#budget-bar.is-reached")).to_contain_text("Budget reached")
    expect(chat.locator(".composer-blocked")).to_contain_text("monthly budget is reached")
    expect(chat.locator(".composer-input")).to_be_disabled()
    page.screenshot(path=str(screenshot_dir(tmp_path) / "budget-reached.png"))

    with api(stack, owner) as client:
        prompt = f"/projects/{project.public_id}/prompt"
        refused = client.post(prompt, json={"message": "[[reply: more]]"})
        assert refused.status_code == 402
        assert refused.json()["error"] == "budget_reached"
        assert "out of budget" in refused.json()["message"]
        raised = client.patch(f"/projects/{project.public_id}/limits", json={"monthly_budget": "5"})
        assert raised.status_code == 200
        assert raised.json()["state"]["reached"] is False

    # No reload, no restart: the open page unlocks and the agent goes on.
    expect(chat.locator(".composer-input")).to_be_enabled(timeout=15_000)
    expect(page.locator("#budget-bar")).to_be_hidden()
    after = f"after-{uuid.uuid4().hex[:8]}"
    send(page, f"[[reply: going on {after}]] {USAGE}")
    expect(chat.locator(".msg-assistant").last).to_contain_text(f"going on {after}", timeout=60_000)
    assert calls_with(scripted_model_server, after) == 1
    # The card stays in the chat across a reload.
    page.reload()
    expect(page.locator(".panel-chat .gateway-card-budget").first).to_be_visible(timeout=60_000)


def paused_card(page: Page, token: str, nth: int) -> Any:
    """Start a stuck run; its card (the ``nth`` guard card of the chat, from 1)."""
    send(page, f"[[loop: echo same]] {token}")
    cards = page.locator(".panel-chat .gateway-card-guard")
    expect(cards).to_have_count(nth, timeout=60_000)
    return cards.nth(nth - 1)


def test_a_stuck_agent_is_paused_with_a_card_that_continues_and_stops(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    limits.set_guard(project, repeat_limit=3)
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first
    token = f"loop-{uuid.uuid4().hex[:8]}"
    card = paused_card(page, token, 1)
    expect(card).to_contain_text("The loop guard paused this run")
    expect(card).to_contain_text("The tool bash was called 3 times in a row")
    expect(card.locator(".gateway-card-args")).to_contain_text("echo same")
    assert calls_with(scripted_model_server, token) == 3
    expect(chat.locator("section.chat")).not_to_have_class(BUSY, timeout=30_000)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "loop-guard-card.png"))

    # Continue: the run goes on ("Continue." starts it, relaxed) and more calls arrive.
    before = len(scripted_model_server.requests)
    card.get_by_role("button", name="Continue").click()
    expect(card.locator(".gateway-card-outcome")).to_have_text("Continued.")
    wait_for(
        lambda: len(scripted_model_server.requests) > before, 30, message="calls after continue"
    )
    expect(chat.locator(".msg-user").last).to_contain_text("Continue.")
    # Stop: another stuck run, paused, then stopped; nothing more goes out.
    expect(chat.locator("section.chat")).not_to_have_class(BUSY, timeout=30_000)
    second = f"loop-{uuid.uuid4().hex[:8]}"
    card = paused_card(page, second, 2)
    card.get_by_role("button", name="Stop").click()
    expect(card.locator(".gateway-card-outcome")).to_have_text("Stopped.")
    count = calls_with(scripted_model_server, second)
    assert count == 3
    time.sleep(1)
    assert calls_with(scripted_model_server, second) == count
    # The cards come back on reload (they are part of the chat); a stale button says so.
    page.reload()
    cards = page.locator(".panel-chat .gateway-card-guard")
    expect(cards).to_have_count(2, timeout=60_000)
    cards.first.get_by_role("button", name="Continue").click()
    expect(cards.first.locator(".gateway-card-outcome")).to_contain_text(
        "not paused by the loop guard"
    )


def test_a_forged_marker_from_the_agent_changes_no_state_and_stays_text(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    """The agent prints the marker (a bash output, its own words) and its bridge could write
    any event: the composer and the budget bar follow the control plane's numbers only,
    and any card text is text, never HTML."""
    owner, project = owner_and_project
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first
    hostile = "<img src=x onerror=window.__pwned=1>"
    # The whole marker, its "]" printed by printf (a "]]" would end the script's marker):
    # in the tool's output, then in the agent's last words ("Done. <output>").
    marker = gateway_marker("budget_reached", {"scope": "project", "spent": hostile, "limit": "1"})
    send(page, f"[[bash: printf '%s\\x5d' '{marker[:-1]}']]")
    expect(chat.locator(".msg-assistant").last).to_contain_text(marker, timeout=60_000)
    expect(chat.locator("section.chat")).not_to_have_class(BUSY, timeout=30_000)
    # A forged event on the page's own event path: it only makes the page re-read.
    session_id = panel_session_ids(page)[0]
    page.evaluate(
        """([sessionId, hostile]) => window.starterWorkspace.events.handle({
            id: 10 ** 12, type: "gateway_refused", session_id: sessionId,
            data: {code: "budget_reached", message: hostile,
                   details: {scope: "project", spent: hostile, limit: "1"}}})""",
        [session_id, hostile],
    )
    time.sleep(1)
    expect(chat.locator(".composer-input")).to_be_enabled()
    expect(page.locator("#budget-bar")).to_be_hidden()
    expect(chat.locator(".gateway-card")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
