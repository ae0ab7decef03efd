"""Issue 18 acceptance 2 (sessions) in a real browser: rename a session and delete another
from the session picker's Manage list; the deleted session's trace is archived in the
Sprite, byte for byte, not lost, and Restore brings the session back.

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, Debian's chromium; only the model is scripted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from bridge_agent import protocol
from projects.bridge.client import call_bridge
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import wait_for
from tests.e2e.test_accessibility import audit, page_for
from tests.e2e.test_workspace_chat import (
    in_thread,
    open_workspace,
    owner_with_running_project,
    panel_session_ids,
    send,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]


@pytest.fixture
def project_with_owner(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "sessions@example.com", "Sessions", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def bridge_get(project: Project, path: str) -> Any:
    project.refresh_from_db()
    return in_thread(call_bridge, project, "GET", path)


def manage_row(page: Page, session_id: str) -> Any:
    return page.locator(f'.panel-chat .session-manager-row[data-session-id="{session_id}"]')


def chat_once(page: Page, text: str, reply: str) -> str:
    send(page, text)
    expect(page.locator(".panel-chat .msg-assistant").last).to_contain_text(reply, timeout=30_000)
    wait_for(
        lambda: not page.evaluate("window.starterWorkspace.views[0].isBusy()"),
        timeout=30,
        message="the run to settle",
    )
    return panel_session_ids(page)[0]


def test_rename_one_session_and_delete_another_whose_trace_is_archived(
    stack: LiveStack, browser: Browser, project_with_owner: tuple[User, Project]
) -> None:
    owner, project = project_with_owner
    page = page_for(browser, stack, owner)  # bypasses the CSP for axe only
    open_workspace(page, stack, project)
    doomed = chat_once(page, "[[reply: delete me later]]", "delete me later")
    trace = bridge_get(project, protocol.session_trace_path(doomed)).raw
    page.locator(".panel-chat .chat-toolbar button", has_text="New session").click()
    wait_for(
        lambda: panel_session_ids(page)[0] not in (None, doomed), timeout=30, message="new session"
    )
    kept = chat_once(page, "[[reply: keep me]]", "keep me")

    # Rename the session on show, from the Manage list (an inline form, not a prompt()).
    manage = page.locator(".panel-chat .chat-toolbar button", has_text="Manage")
    manage.click()
    expect(manage).to_have_attribute("aria-expanded", "true")
    manage_row(page, kept).get_by_role("button", name="Rename").click()
    name_box = manage_row(page, kept).get_by_label("New name for")
    expect(name_box).to_be_focused()
    name_box.fill("Checkout <b>redesign</b>")
    name_box.press("Enter")
    expect(page.locator(".panel-chat .session-manager-status")).to_contain_text("Renamed")
    expect(manage_row(page, kept)).to_contain_text("Checkout <b>redesign</b>")

    # Delete the other one: the first click only asks; Cancel keeps it.
    manage_row(page, doomed).get_by_role("button", name="Delete").click()
    confirm = manage_row(page, doomed).locator(".session-manager-confirm")
    expect(confirm).to_contain_text("Its trace is kept")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    problems = audit(page, "the Manage list asking to confirm a delete")
    assert not problems, "\n".join(problems)
    confirm.get_by_role("button", name="Cancel").click()
    expect(manage_row(page, doomed).get_by_role("button", name="Delete")).to_be_visible()
    listed = bridge_get(project, protocol.SESSIONS_PATH).body
    assert doomed in [s["id"] for s in listed["sessions"]]

    manage_row(page, doomed).get_by_role("button", name="Delete").click()
    manage_row(page, doomed).get_by_role("button", name="Delete session").click()
    expect(page.locator(".panel-chat .session-manager-status")).to_contain_text("archived")
    expect(manage_row(page, doomed)).to_have_count(0)
    expect(page.locator(f'.panel-chat .session-select option[value="{doomed}"]')).to_have_count(0)

    # The trace is in the Sprite's archive folder, byte for byte.
    archived = bridge_get(project, protocol.SESSIONS_ARCHIVED_PATH).body["archived"]
    (entry,) = [a for a in archived if a["id"] == doomed]
    path = f".pi/{protocol.ARCHIVED_SESSIONS_FOLDER}/{entry['file']}"
    stored = in_thread(lambda: run_sync(backend_for(project).read_file(project.sprite_name, path)))
    assert stored == trace

    # After a reload the picker (and the chat's header: the selected option) keeps the name,
    # as text, and the deleted session is nowhere.
    page.reload()
    open_workspace(page, stack, project)
    assert panel_session_ids(page)[0] == kept
    picker = page.locator(".panel-chat .session-select").first
    expect(picker.locator("option:checked")).to_contain_text("Checkout <b>redesign</b>")
    expect(picker.locator(f'option[value="{doomed}"]')).to_have_count(0)
    assert page.locator(".panel-chat .session-select b").count() == 0

    # Restore it from the archive: it is back in the picker with its whole trace.
    manage = page.locator(".panel-chat .chat-toolbar button", has_text="Manage")
    manage.click()
    toggle = page.locator(".panel-chat .session-manager").get_by_role(
        "button", name="Archived sessions"
    )
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    row = page.locator(
        f'.panel-chat .session-manager-archived [data-archived-file="{entry["file"]}"]'
    )
    expect(row).to_contain_text("2 messages")
    problems = audit(page, "the Manage list showing the archive")
    assert not problems, "\n".join(problems)
    row.get_by_role("button", name="Restore").click()
    expect(page.locator(".panel-chat .session-manager-status")).to_contain_text("Restored")
    expect(row).to_have_count(0)
    expect(manage_row(page, doomed)).to_have_count(1)
    expect(picker.locator(f'option[value="{doomed}"]')).to_have_count(1)
    assert bridge_get(project, protocol.session_trace_path(doomed)).raw == trace
