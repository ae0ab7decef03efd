"""pi 1.6's run state in a real browser (issue 14): a queued follow-up is shown under the
composer and can be taken back into it; the thinking picker of a model that cannot reason
offers only "off"; a failed attempt that pi retries shows "Retrying…"; sessions are renamed
from their picker (the name, untrusted text, survives a reload) and named as they start.

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, Debian's chromium; only the model is scripted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
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

HOSTILE_NAME = "<img src=x onerror=window.__pwned=1> Launch plan"


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "rhea@example.com", "Run state", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def selected_session_label(page: Page) -> str:
    label: str = page.evaluate(
        "() => { const s = document.querySelector('.panel-chat .session-select');"
        " return s && s.selectedOptions[0] ? s.selectedOptions[0].textContent : ''; }"
    )
    return label


def test_queue_take_back_thinking_levels_retrying_and_session_names(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first
    box = chat.locator(".composer-input")

    # The thinking picker of the scripted model (no reasoning) offers only "off".
    box.click()
    expect(page.locator("#model-picker")).to_be_visible()
    expect(page.locator("#picker-model")).to_have_value("fake-model")
    expect(page.locator("#picker-thinking option")).to_have_count(1)
    assert page.locator("#picker-thinking option").evaluate_all(
        "options => options.map(o => o.value)"
    ) == ["off"]
    expect(page.locator("#picker-thinking")).to_be_disabled()

    # A queued follow-up is shown under the composer and taken back into it.
    send(page, "[[slow: 120]]")
    expect(chat.locator(".composer-working")).to_be_visible(timeout=30_000)
    box.fill("wait-for-me, then summarise")
    chat.get_by_role("button", name="Follow up").click()
    chip = chat.locator(".queue-chip")
    expect(chip).to_have_text("Follow-up: wait-for-me, then summarise", timeout=15_000)
    expect(box).to_have_value("")
    page.screenshot(path=str(shots / "queued-follow-up.png"))
    box.fill("typed meanwhile")
    chat.get_by_role("button", name="Take back").click()
    expect(chip).to_have_count(0)
    expect(box).to_have_value("typed meanwhile\n\nwait-for-me, then summarise")
    chat.get_by_role("button", name="Stop").click()
    expect(chat.locator(".composer-working")).to_be_hidden(timeout=15_000)
    assert not any("wait-for-me" in json.dumps(r) for r in scripted_model_server.requests)
    box.fill("")

    # A failed attempt that pi retries by itself shows "Retrying…", not a finished run.
    # A fresh text on every try: the scripted server counts the attempts per user message.
    retried = f"retry-in-the-browser-{uuid.uuid4().hex[:8]}"
    send(page, f"[[flaky: 1]] {retried}")
    expect(chat.locator(".composer-working")).to_have_text("Retrying…", timeout=30_000)
    # The failed attempt is a passing note (pi drops it from the history), not an error.
    expect(chat.locator(".msg-retried .msg-retry-note")).to_contain_text("tries again")
    expect(chat.locator(".msg-error")).to_have_count(0)
    page.screenshot(path=str(shots / "retrying.png"))
    expect(chat.locator(".msg-assistant").last).to_contain_text(
        f"Scripted answer: {retried}", timeout=60_000
    )
    expect(chat.locator(".composer-working")).to_be_hidden(timeout=15_000)

    # Rename the session from its picker; the name is text, and it survives a reload.
    first_session = panel_session_ids(page)[0]
    chat.get_by_role("button", name="Rename").click()
    name_box = chat.locator(".session-name-input")
    expect(name_box).to_be_focused()
    name_box.fill(HOSTILE_NAME)
    name_box.press("Enter")
    wait_for(
        lambda: HOSTILE_NAME in selected_session_label(page), timeout=30, message="the new name"
    )
    page.reload()
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first
    wait_for(
        lambda: HOSTILE_NAME in selected_session_label(page),
        timeout=30,
        message="the name after a reload",
    )
    assert panel_session_ids(page)[0] == first_session
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".panel-chat img[src=x]").count() == 0
    page.screenshot(path=str(shots / "renamed-session.png"))

    # A new session is named as it starts (from the palette: the button starts one at once).
    chat.locator(".composer-input").click()
    page.keyboard.press("Control+k")
    page.keyboard.type("new named session")
    expect(page.locator("#palette [role=option][aria-selected=true]")).to_contain_text(
        "New named session"
    )
    page.keyboard.press("Enter")
    name_box = chat.locator(".session-name-input")
    expect(name_box).to_be_focused()
    name_box.fill("Second thoughts")
    name_box.press("Enter")
    wait_for(
        lambda: panel_session_ids(page)[0] not in (None, first_session),
        timeout=30,
        message="the panel on the new session",
    )
    wait_for(
        lambda: "Second thoughts" in selected_session_label(page),
        timeout=30,
        message="the new session's name",
    )
