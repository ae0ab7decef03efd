"""Issue 5 acceptance 1-2 in a real browser: sign up, watch the machine come up, chat with
streaming text and tool cards in two sessions; a dropped websocket and a reload leave the
transcript exactly equal to the bridge's /starter/messages.

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, Debian's chromium; only the model is scripted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from projects.actions import create_project, destroy_project
from projects.bridge.client import call_bridge
from projects.models import Project, Status
from tests.e2e.helpers import (
    fresh_email,
    sign_up_and_verify,
    use_scripted_model,
    wait_for,
    wait_for_status,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server"]

T = TypeVar("T")
PASSWORD = "a-long-passphrase-42"
LAPTOP = {"width": 1366, "height": 768}


# -- helpers shared with the other workspace tests -------------------------------------------


def screenshot_dir(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("STARTER_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def logged_in_page(browser: Browser, stack: LiveStack, user: User) -> Page:
    """A laptop-sized page already signed in as `user` (a real session of the test DB)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport=LAPTOP)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}]
    )
    return context.new_page()


def running_project_for(owner: User, name: str) -> Project:
    project = create_project(owner, name)
    return wait_for_status(project, Status.RUNNING, timeout=120)


def destroy(project: Project) -> None:
    project.refresh_from_db()
    if project.status != Status.DESTROYED:
        destroy_project(project)
        wait_for_status(project, Status.DESTROYED)


@contextmanager
def owner_with_running_project(
    email: str, name: str, model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    """A person whose agents use the scripted model, with one running project (destroyed
    afterwards)."""
    owner = User.objects.create_user(email, PASSWORD)
    use_scripted_model(owner, model_server.base_url)
    project = running_project_for(owner, name)
    try:
        yield owner, project
    finally:
        destroy(project)


def open_workspace(page: Page, stack: LiveStack, project: Project) -> None:
    page.goto(f"{stack.url}/p/{project.public_id}/")
    expect(page.locator(".panel-chat .composer-input").first).to_be_visible(timeout=60_000)
    expect(page.locator("#connection-state")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    wait_for(lambda: all(panel_session_ids(page)), timeout=30, message="chats bound to sessions")


def send(page: Page, text: str, panel: int = 0) -> None:
    box = page.locator(".panel-chat .composer-input").nth(panel)
    box.fill(text)
    box.press("Enter")


def panel_session_ids(page: Page) -> list[str]:
    return page.evaluate("window.starterWorkspace.views.map(v => v.session && v.session.id)")


def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run backend/bridge code off the test thread, where Playwright keeps an event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result(timeout=60)


def bridge_messages(project: Project, session_id: str) -> list[dict[str, Any]]:
    project.refresh_from_db()
    answer = in_thread(
        call_bridge, project, "GET", "/starter/messages", params={"session_id": session_id}
    )
    return list(answer.body["messages"])


def page_transcript(page: Page, session_id: str) -> list[dict[str, Any]]:
    return list(page.evaluate("id => window.starterWorkspace.transcript(id)", session_id))


def assert_transcript_matches_bridge(page: Page, project: Project, session_id: str) -> None:
    """The page's messages equal the bridge's, and the DOM shows each one exactly once."""
    expected = bridge_messages(project, session_id)
    shown = page_transcript(page, session_id)
    # Loaded history carries who sent each prompt, from the control plane
    # (projects/prompt_authors.py): the page's annotation, never the bridge's.
    authors = {message.pop("starter_author", None) for message in shown}
    assert authors <= {None, project.owner.email}
    assert shown == expected
    panel = page.locator(".panel-chat").first
    users = [m for m in expected if m["role"] == "user"]
    assistants = [m for m in expected if m["role"] == "assistant"]
    calls = [part for m in assistants for part in m["content"] if part.get("type") == "toolCall"]
    expect(panel.locator(".msg-user")).to_have_count(len(users))
    expect(panel.locator(".chat-messages .msg-assistant")).to_have_count(len(assistants))
    expect(panel.locator(".chat-messages .tool-card")).to_have_count(len(calls))
    expect(panel.locator(".msg-streaming")).to_have_count(0)
    keys = panel.locator(".chat-messages .msg").evaluate_all(
        "nodes => nodes.map(n => n.dataset.messageKey)"
    )
    assert len(keys) == len(set(keys)), "a message is shown twice"


RECORD_PROGRESS = """
window.__progressSteps = [];
document.addEventListener("DOMContentLoaded", () => {
  const stage = document.getElementById("lifecycle-stage");
  if (!stage) { return; }
  const record = () => stage.querySelectorAll("[data-progress-step]").forEach(
    (node) => window.__progressSteps.push(node.textContent.trim()));
  record();
  new MutationObserver(record).observe(stage,
                                      {subtree: true, childList: true, characterData: true});
});
"""


@pytest.fixture
def stack(live_stack: LiveStack, settings: Any) -> LiveStack:
    settings.DATA_DIR = live_stack.data_dir
    return live_stack


# -- acceptance 1 ------------------------------------------------------------------------------


def test_signup_create_watch_progress_then_stream_tool_card_and_two_sessions(
    stack: LiveStack,
    browser: Browser,
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    shots = screenshot_dir(tmp_path)
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    wendy = fresh_email("wendy")
    sign_up_and_verify(page, stack, wendy, PASSWORD)
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    use_scripted_model(User.objects.get(email=wendy), scripted_model_server.base_url)
    page.screenshot(path=str(shots / "home-empty.png"))

    page.add_init_script(RECORD_PROGRESS)
    page.fill("input[name=name]", "Storefront")
    page.click("text=Create project")
    page.wait_for_url("**/p/*/")
    project = Project.objects.get(name="Storefront")

    # The first bootstrap is often done before the page's socket is up; the page still shows
    # where it got to. A re-bootstrap from the open workspace is then watched step by step,
    # live, until the machine runs again.
    composer = page.locator(".panel-chat .composer-input").first
    expect(composer).to_be_visible(timeout=120_000)
    assert page.evaluate("window.__progressSteps"), "no progress was shown"
    expect(page.locator("[data-status-badge]").first).to_have_text("Running")
    page.evaluate("window.__progressSteps.length = 0")
    page.get_by_role("button", name="Project settings").click()
    page.locator(".panel-manage").get_by_role("button", name="Re-bootstrap").click()
    expect(page.locator("#lifecycle-stage")).to_be_visible(timeout=10_000)
    expect(page.locator("#lifecycle-stage .progress")).to_be_visible()
    expect(composer).to_be_visible(timeout=120_000)
    expect(page.locator("#lifecycle-stage")).to_be_hidden()
    steps = set(page.evaluate("window.__progressSteps"))
    assert len(steps) >= 3, steps
    expect(page.locator("[data-status-badge]").first).to_have_text("Running")
    page.locator(".panel-manage").get_by_role("button", name="Close panel").click()

    # A tool call shows as a card with its output, then the answer streams in.
    send(page, "[[bash: echo tool-ran-ok]]")
    card = page.locator(".panel-chat .tool-card[data-tool-name=bash]").first
    expect(card).to_be_visible(timeout=30_000)
    expect(card.locator(".tool-output")).to_contain_text("tool-ran-ok", timeout=30_000)
    expect(card.locator(".tool-summary")).to_have_text("echo tool-ran-ok")
    expect(page.locator(".panel-chat .msg-assistant").last).to_contain_text(
        "Done. tool-ran-ok", timeout=30_000
    )
    card.locator("summary").click()
    expect(card.locator(".tool-input")).to_contain_text('"command": "echo tool-ran-ok"')

    # A slow reply is visibly streaming before it is complete.
    send(page, "[[slow: 25]]")
    streaming = page.locator(".panel-chat .msg-streaming")
    expect(streaming).to_contain_text("tick3", timeout=30_000)
    assert "tick24" not in streaming.inner_text()
    expect(
        page.locator(".panel-chat .stop-button, .panel-chat button:has-text('Stop')").first
    ).to_be_visible()
    page.screenshot(path=str(shots / "chat-streaming.png"))
    expect(page.locator(".panel-chat .chat-messages .msg-assistant").last).to_contain_text(
        "tick24", timeout=30_000
    )
    expect(streaming).to_have_count(0)

    # A second chat session beside the first, each answering its own prompt.
    page.get_by_role("button", name="Split right").first.click()
    expect(page.locator(".panel-chat")).to_have_count(2)
    wait_for(
        lambda: len(set(filter(None, panel_session_ids(page)))) == 2,
        timeout=30,
        message="two distinct sessions",
    )
    send(page, "[[reply: answer-in-the-second-session]]", panel=1)
    send(page, "[[reply: answer-in-the-first-session]]", panel=0)
    second = page.locator(".panel-chat").nth(1)
    first = page.locator(".panel-chat").nth(0)
    expect(second.locator(".msg-assistant").last).to_have_text(
        "answer-in-the-second-session", timeout=30_000
    )
    expect(first.locator(".msg-assistant").last).to_have_text(
        "answer-in-the-first-session", timeout=30_000
    )
    expect(first).not_to_contain_text("answer-in-the-second-session")
    expect(second).not_to_contain_text("answer-in-the-first-session")
    page.screenshot(path=str(shots / "two-sessions.png"))

    first_id, second_id = panel_session_ids(page)
    assert first_id != second_id
    assert_transcript_matches_bridge(page, project, first_id)
    context.close()
    destroy(project)


# -- acceptance 2 ------------------------------------------------------------------------------


@pytest.fixture
def chatty_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "xavier@example.com", "Replay", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def test_killing_the_websocket_mid_stream_loses_and_repeats_nothing(
    stack: LiveStack,
    browser: Browser,
    chatty_project: tuple[User, Project],
) -> None:
    owner, project = chatty_project
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    send(page, "[[bash: echo before-the-drop]]")
    expect(page.locator(".panel-chat .msg-assistant").last).to_contain_text(
        "Done. before-the-drop", timeout=30_000
    )

    send(page, "[[slow: 40]]")
    streaming = page.locator(".panel-chat .msg-streaming")
    expect(streaming).to_contain_text("tick4", timeout=30_000)
    connects = page.evaluate("window.starterWorkspace.connects")
    for _ in range(2):  # twice, so a drop during the replay itself is covered too
        page.evaluate("window.starterWorkspace.socket.socket.close()")
        time.sleep(0.6)
    wait_for(
        lambda: page.evaluate("window.starterWorkspace.connects") >= connects + 2,
        timeout=20,
        message="the websocket to come back",
    )
    assert "tick39" not in (streaming.inner_text() if streaming.count() else "")
    expect(page.locator(".panel-chat .chat-messages .msg-assistant").last).to_contain_text(
        "tick39", timeout=30_000
    )
    session_id = panel_session_ids(page)[0]
    assert_transcript_matches_bridge(page, project, session_id)


def test_reloading_mid_stream_rebuilds_the_exact_transcript(
    stack: LiveStack,
    browser: Browser,
    chatty_project: tuple[User, Project],
) -> None:
    owner, project = chatty_project
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    send(page, "[[bash: echo first-turn]]")
    expect(page.locator(".panel-chat .msg-assistant").last).to_contain_text(
        "Done. first-turn", timeout=30_000
    )
    send(page, "[[slow: 40]]")
    expect(page.locator(".panel-chat .msg-streaming")).to_contain_text("tick4", timeout=30_000)
    page.reload()
    open_workspace(page, stack, project)
    expect(page.locator(".panel-chat .chat-messages .msg-assistant").last).to_contain_text(
        "tick39", timeout=30_000
    )
    session_id = panel_session_ids(page)[0]
    assert_transcript_matches_bridge(page, project, session_id)
    # The same session came back in the same panel: the layout is remembered.
    assert page.locator(".panel-chat").count() == 1
