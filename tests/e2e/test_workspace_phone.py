"""The workspace on a phone (390x844, touch), in a real browser: nothing scrolls sideways, the
panels show one at a time behind a switcher, the sidebar is a drawer that opens and closes
with the focus where a keyboard user expects it, and a prompt can be sent and its run watched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, ViewportSize, expect

from accounts.models import User
from projects.models import Project
from tests.e2e.test_workspace_chat import (
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

PHONE: ViewportSize = {"width": 390, "height": 844}

SIDEWAYS_OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"


def phone_page(browser: Browser, stack: LiveStack, user: User) -> Page:
    client = Client()
    client.force_login(user)
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}]
    )
    return context.new_page()


def visible_panels(page: Page) -> list[str]:
    return list(
        page.locator("#panels .panel").evaluate_all(
            "nodes => nodes.filter(n => n.getClientRects().length > 0).map(n => n.dataset.panelId)"
        )
    )


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "phone@example.com", "Phone app", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def test_phone_shows_one_panel_a_drawer_and_runs_a_prompt(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    shots = screenshot_dir(tmp_path)
    owner, project = owner_and_project
    page = phone_page(browser, stack, owner)
    open_workspace(page, stack, project)
    assert page.evaluate(SIDEWAYS_OVERFLOW) <= 0

    # The sidebar is a drawer: hidden until the top bar's button opens it.
    sidebar = page.locator("#ws-sidebar")
    toggle = page.get_by_role("button", name="Project menu", exact=True)
    expect(sidebar).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=str(shots / "phone-drawer.png"))
    assert page.evaluate("document.getElementById('ws-sidebar').contains(document.activeElement)")
    assert page.evaluate(SIDEWAYS_OVERFLOW) <= 0
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    # Opening a panel from the drawer closes it and shows that panel alone.
    first_panel = visible_panels(page)
    assert len(first_panel) == 1
    toggle.click()
    sidebar.get_by_role("button", name="New chat").click()
    expect(sidebar).to_be_hidden()
    expect(page.locator("#panels .panel")).to_have_count(2)
    shown = visible_panels(page)
    assert len(shown) == 1 and shown != first_panel
    switcher = page.get_by_label("Panel", exact=True)
    expect(switcher.locator("option")).to_have_count(2)
    expect(switcher).to_have_value(shown[0])

    # The switcher brings the first chat back; the backdrop also closes the drawer.
    switcher.select_option(first_panel[0])
    assert visible_panels(page) == first_panel
    toggle.click()
    expect(sidebar).to_be_visible()
    page.mouse.click(380, 600)  # on the backdrop, right of the drawer
    expect(sidebar).to_be_hidden()
    toggle.click()
    sidebar.get_by_role("button", name="Close the project menu").click()
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()

    # A prompt goes from the phone and the run streams into the panel in view.
    chat = page.locator(f'#panels .panel[data-panel-id="{first_panel[0]}"]')
    composer = chat.locator(".composer-input")
    expect(composer).to_be_in_viewport()
    composer.fill("[[bash: echo from-the-phone]]")
    chat.get_by_role("button", name="Send").click()
    expect(chat.locator(".tool-card").first).to_be_visible(timeout=60_000)
    expect(chat).to_contain_text("Done. from-the-phone", timeout=60_000)
    assert page.evaluate(SIDEWAYS_OVERFLOW) <= 0
    assert visible_panels(page) == first_panel
    page.screenshot(path=str(shots / "phone-run.png"))
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(shots / "phone-run-dark.png"))


def test_widening_the_window_brings_the_split_back(
    stack: LiveStack, browser: Browser, owner_and_project: tuple[User, Project]
) -> None:
    owner, project = owner_and_project
    page = phone_page(browser, stack, owner)
    open_workspace(page, stack, project)
    page.get_by_role("button", name="Project menu", exact=True).click()
    page.locator("#ws-sidebar").get_by_role("button", name="New chat").click()
    expect(page.locator("#panels .panel")).to_have_count(2)
    assert len(visible_panels(page)) == 1

    page.set_viewport_size({"width": 1366, "height": 768})
    expect(page.locator("#panel-switcher")).to_be_hidden()
    expect(page.locator("#ws-sidebar")).to_be_visible()
    expect(page.get_by_role("button", name="Project menu", exact=True)).to_be_hidden()
    assert len(visible_panels(page)) == 2
