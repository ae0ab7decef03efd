"""Issue 14, branching, in a real browser: edit a sent message and resend it; the trace
panel shows the session's tree with both branches; choosing the other branch changes the
transcript; Duplicate opens a copy of the conversation.

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, Debian's chromium; only the model is scripted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_workspace_chat import (
    bridge_messages,
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

# A message whose text is markup: the transcript and the tree must show it as text.
MARKUP = 'second <img src=x onerror="window.__pwned=1"> question'


def user_texts(page: Page) -> Any:
    return page.locator(".panel-chat .msg-user .msg-text")


def last_answer(page: Page) -> Any:
    return page.locator(".panel-chat .msg-assistant .msg-text").last


def test_edit_and_resend_makes_a_branch_the_trace_panel_shows_and_switching_changes_the_transcript(
    stack: LiveStack,
    browser: Browser,
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    with owner_with_running_project("brenda@example.com", "Branches", scripted_model_server) as (
        owner,
        project,
    ):
        page = logged_in_page(browser, stack, owner)
        open_workspace(page, stack, project)
        send(page, "first question")
        expect(last_answer(page)).to_have_text("Scripted answer: first question", timeout=30_000)
        send(page, MARKUP)
        expect(page.locator(".panel-chat .msg-assistant")).to_have_count(2, timeout=30_000)
        expect(page.locator(".panel-chat .composer-working")).to_be_hidden(timeout=30_000)

        # Edit the second message and resend it.
        second = page.locator(".panel-chat .msg-user").nth(1)
        second.get_by_role("button", name="Edit").click()
        editor = second.locator(".msg-edit textarea")
        expect(editor).to_have_value(MARKUP)
        editor.fill("second question, edited")
        second.get_by_role("button", name="Resend").click()
        expect(last_answer(page)).to_have_text(
            "Scripted answer: second question, edited", timeout=30_000
        )
        expect(user_texts(page)).to_have_text(["first question", "second question, edited"])

        # The trace panel shows the tree: the two second messages are branches.
        page.locator(".panel-chat .chat-toolbar").get_by_role("button", name="Trace").click()
        tree = page.locator(".branch-tree")
        expect(tree.locator(".branch-node")).to_have_count(3, timeout=30_000)
        expect(tree.locator(".branch-node.is-branch")).to_have_count(2)
        expect(tree.locator(".branch-node.is-active .branch-text")).to_have_text(
            ["first question", "second question, edited"]
        )
        expect(tree.locator("img")).to_have_count(0)  # the markup is text
        original = tree.get_by_role("button", name=MARKUP)
        expect(original).to_be_visible()

        # Choosing the original branch changes the transcript back.
        original.click()
        expect(user_texts(page)).to_have_text(["first question", MARKUP], timeout=30_000)
        expect(page.locator(".panel-chat .msg-assistant")).to_have_count(2)
        expect(page.locator(".panel-chat .msg-user img")).to_have_count(0)
        expect(tree.locator(".branch-node.is-active .branch-text")).to_have_text(
            ["first question", MARKUP]
        )
        session_id = panel_session_ids(page)[0]
        on_screen = page.evaluate(
            "id => window.starterWorkspace.transcript(id).map(m => m.role)", session_id
        )
        assert on_screen == [m["role"] for m in bridge_messages(project, session_id)]
        assert page.evaluate("typeof window.__pwned") == "undefined"
        page.screenshot(path=str(screenshot_dir(tmp_path) / "branches.png"))

        # And back to the edited one, from the tree again.
        tree.get_by_role("button", name="second question, edited").click()
        expect(user_texts(page)).to_have_text(
            ["first question", "second question, edited"], timeout=30_000
        )

        # Duplicate: the chat moves to a copy holding the branch on screen.
        page.locator(".panel-chat .chat-toolbar").get_by_role("button", name="Duplicate").click()
        page.wait_for_function(
            "id => window.starterWorkspace.views[0].session"
            " && window.starterWorkspace.views[0].session.id !== id",
            arg=session_id,
            timeout=30_000,
        )
        expect(user_texts(page)).to_have_text(["first question", "second question, edited"])
        assert panel_session_ids(page)[0] != session_id
