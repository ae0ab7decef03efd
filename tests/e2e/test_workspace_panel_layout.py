"""Issue 18, acceptance 1, in a real browser on a real project: panels people arrange. Drag
the chat onto the preview's middle and they become tabs; drag its tab out to the left edge
and they split again; reload and the arrangement is the same; a layout saved by an older
page (no tab groups, or naming a panel kind this page does not know) still loads; the
middle button closes a tab; the keyboard moves the focus between panels and moves panels
from the header's menu. Through all of it the chat is moved, never rebuilt: its draft stays."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from accounts.models import User
from projects.models import Project
from tests.e2e.test_accessibility import audit, page_for
from tests.e2e.test_workspace_chat import (
    logged_in_page,
    open_workspace,
    owner_with_running_project,
    screenshot_dir,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

DRAFT = "a draft that must survive every move"


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "arranger@example.com", "Arranged", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def drag(page: Page, handle: Locator, x: float, y: float, zone: str | None = None) -> None:
    """A real mouse drag from the middle of `handle` to (x, y); with `zone`, the drop-zone
    overlay must show that zone before the button is let go."""
    box = handle.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + min(40, box["width"] / 2), box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(x, y, steps=15)
    if zone is not None:
        overlay = page.locator(".drop-overlay")
        expect(overlay).to_be_visible()
        expect(overlay).to_have_attribute("data-zone", zone)
    page.mouse.up()
    expect(page.locator(".drop-overlay")).to_have_count(0)


def middle(box: dict[str, float] | None) -> tuple[float, float]:
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def layout_key(project: Project) -> str:
    return f"starter.layout.{project.public_id}"


def saved_layout(page: Page, project: Project) -> Any:
    return json.loads(page.evaluate("key => localStorage.getItem(key)", layout_key(project)))


def plant(page: Page, project: Project, layout: Any) -> None:
    page.evaluate(
        "([key, value]) => localStorage.setItem(key, value)",
        [layout_key(project), json.dumps(layout)],
    )


def focused_kind(page: Page) -> str | None:
    return page.evaluate(
        "() => { const p = document.activeElement && document.activeElement.closest('.panel');"
        " return p ? p.dataset.kind : null; }"
    )


def kinds_left_to_right(page: Page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#panels .panel:not([hidden])')]"
        ".map(p => [p.getBoundingClientRect().left, p.dataset.kind])"
        ".sort((a, b) => a[0] - b[0]).map(pair => pair[1])"
    )


def test_drag_to_tabs_and_back_reload_old_layouts_middle_click_and_keyboard(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    page.get_by_role("button", name="App preview").click()
    chat = page.locator(".panel-chat")
    preview = page.locator(".panel-preview")
    expect(preview).to_have_count(1)
    assert kinds_left_to_right(page) == ["chat", "preview"]
    chat.locator(".composer-input").fill(DRAFT)
    # The chat's own element: moving panels must keep this very node (not a rebuilt one).
    page.evaluate("() => { window.__chatRoot = window.starterWorkspace.views[0].root; }")

    def chat_kept() -> None:
        expect(chat.locator(".composer-input")).to_have_value(DRAFT)
        assert page.evaluate(
            "() => window.starterWorkspace.views.length === 1"
            " && window.starterWorkspace.views[0].root === window.__chatRoot"
            " && window.__chatRoot.isConnected"
        )

    # Drag the chat by its header onto the preview's middle: one group, two tabs.
    drag(page, chat.locator(".panel-header"), *middle(preview.bounding_box()), zone="center")
    tabs = page.locator(".panel-group [role=tablist] [role=tab]")
    expect(tabs).to_have_count(2)
    expect(tabs.nth(0)).to_contain_text("App preview")
    expect(tabs.nth(1)).to_contain_text("Chat")
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
    expect(chat).to_be_visible()
    expect(preview).to_be_hidden()
    chat_kept()
    page.screenshot(path=str(shots / "panels-tabs.png"))

    # A click switches tabs; the strip says which is selected.
    tabs.nth(0).click()
    expect(tabs.nth(0)).to_have_attribute("aria-selected", "true")
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "false")
    expect(preview).to_be_visible()
    expect(chat).to_be_hidden()

    # Tabs reorder by drag within the strip: the chat's tab before the preview's.
    preview_tab_box = tabs.nth(0).bounding_box()
    assert preview_tab_box is not None
    drag(page, tabs.nth(1), preview_tab_box["x"] + 4, preview_tab_box["y"] + 8)
    expect(tabs.nth(0)).to_contain_text("Chat")
    expect(tabs.nth(1)).to_contain_text("App preview")
    chat_kept()

    # Drag the chat's tab out onto the group's left edge: a split, the chat on the left.
    group = page.locator(".panel-group").bounding_box()
    assert group is not None
    drag(
        page,
        tabs.nth(0),
        group["x"] + 12,
        group["y"] + group["height"] / 2,
        zone="left",
    )
    expect(page.locator("[role=tablist]")).to_have_count(0)
    expect(chat).to_be_visible()
    expect(preview).to_be_visible()
    assert kinds_left_to_right(page) == ["chat", "preview"]
    chat_kept()
    saved = saved_layout(page, project)
    assert saved["type"] == "split" and saved["dir"] == "row"
    assert [child["kind"] for child in saved["children"]] == ["chat", "preview"]

    # Reload: the same arrangement.
    page.reload()
    open_workspace(page, stack, project)
    expect(preview).to_have_count(1)
    expect(chat).to_have_count(1)
    expect(page.locator("[role=tablist]")).to_have_count(0)
    assert kinds_left_to_right(page) == ["chat", "preview"]

    # Keyboard: the focus moves between panels, and Alt+Shift+Arrow goes by direction.
    chat.locator(".composer-input").focus()
    assert focused_kind(page) == "chat"
    page.keyboard.press("Alt+BracketRight")
    expect(preview).to_have_class(re.compile(r"\bis-focused\b"))
    assert focused_kind(page) == "preview"
    page.keyboard.press("Alt+Shift+ArrowLeft")
    assert focused_kind(page) == "chat"
    page.keyboard.press("Alt+BracketLeft")
    assert focused_kind(page) == "preview"

    # Keyboard: "Move panel" in the chat's header stacks it with the preview; reload keeps it.
    chat.get_by_role("button", name="Move panel").click()
    menu = chat.get_by_role("menu", name="Move this panel")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    page.keyboard.press("End")  # the last choice: "Stack with App preview"
    expect(menu.get_by_role("menuitem", name="Stack with App preview")).to_be_focused()
    page.keyboard.press("Enter")
    expect(tabs).to_have_count(2)
    expect(page.get_by_role("tab", name="Chat")).to_have_attribute("aria-selected", "true")
    page.reload()
    open_workspace(page, stack, project)
    expect(tabs).to_have_count(2)
    expect(page.get_by_role("tab", name="Chat")).to_have_attribute("aria-selected", "true")
    # Arrow keys move along the strip; the selected tab follows.
    page.get_by_role("tab", name="Chat").focus()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="App preview")).to_be_focused()
    expect(page.get_by_role("tab", name="App preview")).to_have_attribute("aria-selected", "true")

    # The middle button closes a tab (the preview): the chat is alone and still itself.
    page.get_by_role("tab", name="Chat").click()
    page.evaluate("() => { window.__chatRoot = window.starterWorkspace.views[0].root; }")
    chat.locator(".composer-input").fill(DRAFT)
    page.get_by_role("tab", name="App preview").click(button="middle")
    expect(preview).to_have_count(0)
    expect(page.locator("[role=tablist]")).to_have_count(0)
    chat_kept()

    # A layout saved before tab groups existed (and before this page's kinds) still loads.
    chat_id = saved_layout(page, project)["id"]
    old_shape = {
        "type": "split",
        "dir": "col",
        "sizes": [2, 1],
        "children": [
            {"type": "panel", "id": chat_id, "kind": "chat", "props": {}},
            {"type": "panel", "id": "p-old-preview", "kind": "preview", "props": {}},
        ],
    }
    plant(page, project, old_shape)
    page.reload()
    open_workspace(page, stack, project)
    expect(preview).to_have_count(1)
    chat_box, preview_box = chat.bounding_box(), preview.bounding_box()
    assert chat_box is not None and preview_box is not None
    assert chat_box["y"] < preview_box["y"]  # a column: the chat above

    # One that names kinds this page never had (a newer page's, or junk) keeps the rest.
    unknown = {
        "type": "split",
        "dir": "row",
        "sizes": [1, 1, 1],
        "children": [
            {"type": "panel", "id": chat_id, "kind": "chat", "props": {}},
            {"type": "panel", "id": "p-holo", "kind": "hologram", "props": {"x": 1}},
            {
                "type": "tabs",
                "id": "t-old",
                "active": "p-gone",
                "children": [
                    {"type": "panel", "id": "p-gone", "kind": "kind-from-the-future"},
                    {"type": "panel", "id": "p-files", "kind": "files", "props": {}},
                    {"type": "panel", "id": "p-pre", "kind": "preview", "props": {}},
                    "not a panel",
                ],
            },
            {"type": "wormhole", "children": []},
        ],
    }
    plant(page, project, unknown)
    page.reload()
    open_workspace(page, stack, project)
    expect(page.locator(".panel")).to_have_count(3)
    expect(page.locator(".panel-files")).to_have_count(1)
    expect(preview).to_have_count(1)
    expect(tabs).to_have_count(2)
    # The group's remembered active tab is gone: its first remaining one shows.
    expect(page.get_by_role("tab", name="Files")).to_have_attribute("aria-selected", "true")
    assert kinds_left_to_right(page) == ["chat", "files"]
    page.screenshot(path=str(shots / "panels-old-layout.png"))

    # Nothing usable at all: the default layout, not an empty page.
    plant(page, project, {"type": "panel", "id": "x", "kind": "hologram"})
    page.reload()
    open_workspace(page, stack, project)
    expect(page.locator(".panel")).to_have_count(1)
    expect(chat).to_have_count(1)

    # A terminal stacked with the chat keeps its xterm (and its shell) through the move and
    # while it waits behind the other tab.
    page.get_by_role("button", name="New terminal").click()
    terminal = page.locator(".panel-terminal")
    rows = terminal.locator(".xterm-rows")
    expect(rows).to_contain_text("$", timeout=30_000)
    terminal.locator(".xterm-helper-textarea").focus()
    page.keyboard.type("echo kept-$((6*7))")
    page.keyboard.press("Enter")
    expect(rows).to_contain_text("kept-42")
    page.evaluate("() => { window.__xterm = document.querySelector('.panel-terminal .xterm'); }")
    drag(page, terminal.locator(".panel-header"), *middle(chat.bounding_box()), zone="center")
    expect(tabs).to_have_count(2)
    page.get_by_role("tab", name="Chat").click()
    expect(terminal).to_be_hidden()
    page.get_by_role("tab", name="Terminal").click()
    expect(rows).to_contain_text("kept-42")
    assert page.evaluate(
        "() => document.querySelector('.panel-terminal .xterm') === window.__xterm"
    )
    page.context.close()

    # The tab strip and the move menu pass axe.
    audited = page_for(browser, stack, owner)
    open_workspace(audited, stack, project)
    plant(audited, project, unknown)
    audited.reload()
    open_workspace(audited, stack, project)
    expect(audited.locator(".panel-group [role=tab]")).to_have_count(2)
    audited.locator(".panel-chat").get_by_role("button", name="Move panel").click()
    expect(audited.get_by_role("menu", name="Move this panel")).to_be_visible()
    assert audit(audited, "workspace with tabs and the move menu") == []
    audited.context.close()
