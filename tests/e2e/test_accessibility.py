"""Accessibility and laptop fit of the dashboard, in a real browser.

axe-core (pinned in package.json, injected into each page) checks the WCAG 2.1 A and AA
rules it can decide automatically (labels, names, contrast, roles, landmarks…) on the pages
a person uses: log in, sign up, home, settings, rename and delete, the workspace with a
conversation that has a tool card, and the workspace with the command palette open. Each page
is checked in the light theme, in the dark one (the system's preference, and the account
menu's toggle) and on a phone (390x844). On each page nothing may overflow the screen
sideways, and Tab must move the focus to visible controls that show where the focus is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, ViewportSize, expect

from accounts.models import User
from projects.models import Project
from tests.e2e.test_workspace_chat import (
    LAPTOP,
    open_workspace,
    owner_with_running_project,
    send,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

PHONE: ViewportSize = {"width": 390, "height": 844}
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.slice(0, 4).map((node) => node.target.join(" ")
      + " :: " + node.failureSummary.replace(/\\s+/g, " ")),
  }));
}"""

# Where the focus is after each Tab, and whether it shows: an outline or a box shadow.
FOCUSED = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  return {
    tag: element.tagName.toLowerCase(),
    name: element.getAttribute("aria-label") || element.textContent.trim().slice(0, 40)
      || element.getAttribute("name") || element.id,
    visible: box.width > 0 && box.height > 0,
    indicated: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
      || style.boxShadow !== "none",
  };
}"""


def page_for(
    browser: Browser,
    stack: LiveStack,
    user: User | None,
    *,
    scheme: Literal["light", "dark"] = "light",
    viewport: ViewportSize | None = None,
) -> Page:
    """A page with the system's colour scheme `scheme`, on a laptop unless told otherwise."""
    # bypass_csp: axe is injected as an inline script, which the dashboard's policy refuses.
    context = browser.new_context(
        viewport=viewport or LAPTOP,
        bypass_csp=True,
        color_scheme=scheme,
        is_mobile=viewport == PHONE,
        has_touch=viewport == PHONE,
    )
    if user is not None:
        client = Client()
        client.force_login(user)
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}]
        )
    return context.new_page()


def audit(page: Page, where: str) -> list[str]:
    """What is wrong on the page as it is now: axe violations, sideways overflow, focus."""
    problems: list[str] = []
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(AXE_RUN, WCAG_TAGS)
    for violation in violations:
        problems.append(
            f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}\n    "
            + "\n    ".join(violation["nodes"])
        )
    width = page.evaluate("window.innerWidth")
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        problems.append(f"{where}: {overflow}px wider than a {width}px screen")
    return problems


def theme_of(page: Page) -> str:
    return str(page.evaluate("document.documentElement.dataset.theme"))


def choose_theme(page: Page, name: str) -> None:
    """Pick Light, Dark or System in the account menu (closed again afterwards)."""
    page.get_by_label("Account menu").click()
    page.get_by_role("menuitemradio", name=name).click()
    expect(page.get_by_role("menuitemradio", name=name)).to_have_attribute("aria-checked", "true")
    page.get_by_label("Account menu").click()


def tab_through(page: Page, where: str, presses: int = 12) -> list[str]:
    """Tab a few times from the top: every stop is a visible control with a focus indicator."""
    problems: list[str] = []
    page.locator("body").click(position={"x": 1, "y": 1})
    stops = 0
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        stops += 1
        if not focused["visible"]:
            problems.append(f"{where}: Tab reached an invisible {focused['tag']} {focused}")
        elif not focused["indicated"]:
            problems.append(f"{where}: no visible focus on {focused['tag']} {focused['name']!r}")
    if stops == 0:
        problems.append(f"{where}: Tab reaches no control")
    return problems


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "ada@example.com", "Accessible app", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def test_pages_pass_axe_fit_a_laptop_and_show_keyboard_focus(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
) -> None:
    owner, project = owner_and_project
    problems: list[str] = []
    project_pages = (f"/p/{project.public_id}/rename/", f"/p/{project.public_id}/delete/")

    for scheme in ("light", "dark"):
        anonymous = page_for(browser, stack, None, scheme=scheme)
        for path in ("/accounts/login/", "/accounts/signup/"):
            anonymous.goto(stack.url + path)
            assert theme_of(anonymous) == scheme
            problems += audit(anonymous, f"{path} ({scheme})")
            problems += tab_through(anonymous, f"{path} ({scheme})")
        anonymous.context.close()

        page = page_for(browser, stack, owner, scheme=scheme)
        for path in ("/", "/settings/", *project_pages):
            page.goto(stack.url + path)
            assert theme_of(page) == scheme
            problems += audit(page, f"{path} ({scheme})")
            problems += tab_through(page, f"{path} ({scheme})")
        page.context.close()

    page = page_for(browser, stack, owner)
    open_workspace(page, stack, project)
    send(page, "[[bash: echo build-checked]]")
    expect(page.locator(".tool-card").first).to_be_visible(timeout=60_000)
    expect(page.locator(".panel-chat").first).to_contain_text("Done. build-checked", timeout=60_000)
    # Open the tool card: its input and output (highlighted code) are checked too.
    page.locator(".tool-card > summary").first.click()
    problems += audit(page, "workspace")
    problems += tab_through(page, "workspace", presses=20)

    page.keyboard.press("Control+k")
    expect(page.locator("#palette")).to_be_visible()
    problems += audit(page, "workspace with the palette open")
    page.keyboard.press("Escape")

    # The system turns dark while the page is open: the page follows without a reload.
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    problems += audit(page, "workspace (dark)")
    problems += tab_through(page, "workspace (dark)", presses=20)
    page.keyboard.press("Control+k")
    expect(page.locator("#palette")).to_be_visible()
    problems += audit(page, "workspace with the palette open (dark)")

    assert not problems, "\n".join(problems)


def test_pages_pass_axe_and_fit_a_phone(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
) -> None:
    owner, project = owner_and_project
    problems: list[str] = []

    anonymous = page_for(browser, stack, None, viewport=PHONE)
    for path in ("/accounts/login/", "/accounts/signup/"):
        anonymous.goto(stack.url + path)
        problems += audit(anonymous, f"{path} (phone)")

    page = page_for(browser, stack, owner, viewport=PHONE)
    project_pages = (f"/p/{project.public_id}/rename/", f"/p/{project.public_id}/delete/")
    for path in ("/", "/settings/", *project_pages):
        page.goto(stack.url + path)
        problems += audit(page, f"{path} (phone)")

    open_workspace(page, stack, project)
    send(page, "[[bash: echo phone-checked]]")
    expect(page.locator(".panel-chat").first).to_contain_text("Done. phone-checked", timeout=60_000)
    problems += audit(page, "workspace (phone)")
    page.get_by_role("button", name="Project menu", exact=True).click()
    expect(page.locator("#ws-sidebar")).to_be_visible()
    problems += audit(page, "workspace with the drawer open (phone)")
    page.keyboard.press("Escape")

    # The same in the dark theme, chosen with the toggle while the system stays light.
    choose_theme(page, "Dark")
    assert theme_of(page) == "dark"
    problems += audit(page, "workspace (phone, dark)")
    for path in ("/", "/settings/"):
        page.goto(stack.url + path)
        problems += audit(page, f"{path} (phone, dark)")

    assert not problems, "\n".join(problems)


def test_theme_follows_the_system_and_the_toggle_persists(
    stack: LiveStack, browser: Browser
) -> None:
    owner = User.objects.create_user("theme@example.com", "a-long-passphrase-42")
    dark_system = page_for(browser, stack, owner, scheme="dark")
    dark_system.goto(stack.url + "/")
    assert theme_of(dark_system) == "dark"
    background = "getComputedStyle(document.body).backgroundColor"
    dark_background = dark_system.evaluate(background)
    dark_system.get_by_label("Account menu").click()
    expect(dark_system.get_by_role("menuitemradio", name="System")).to_have_attribute(
        "aria-checked", "true"
    )
    dark_system.context.close()

    page = page_for(browser, stack, owner, scheme="light")
    page.goto(stack.url + "/settings/")
    assert theme_of(page) == "light"
    light_background = page.evaluate(background)
    assert light_background != dark_background

    choose_theme(page, "Dark")
    assert theme_of(page) == "dark"
    assert page.evaluate(background) == dark_background
    page.reload()
    assert theme_of(page) == "dark"
    page.goto(stack.url + "/")
    assert theme_of(page) == "dark"
    page.get_by_label("Account menu").click()
    expect(page.get_by_role("menuitemradio", name="Dark")).to_have_attribute("aria-checked", "true")
    page.get_by_label("Account menu").click()

    # Light wins over a dark system; System follows it again.
    page.emulate_media(color_scheme="dark")
    choose_theme(page, "Light")
    assert theme_of(page) == "light"
    page.reload()
    assert theme_of(page) == "light"
    choose_theme(page, "System")
    assert theme_of(page) == "dark"
    page.reload()
    assert theme_of(page) == "dark"


def test_service_controls_logs_and_runs_pass_axe(
    stack: LiveStack,
    browser: Browser,
    scripted_model_server: ScriptedModelServer,
) -> None:
    """The sidebar's supervised services (a web app and a cron job with a failed run), a
    service's live log and a cron job's runs panel."""
    from bridge_agent.protocol import SERVICE_ACTION_PATH, SERVICES_PATH
    from projects.bridge.client import call_bridge
    from tests.e2e.helpers import wait_for

    with owner_with_running_project(
        "ada-services@example.com", "Services", scripted_model_server
    ) as (owner, project):
        call_bridge(
            project,
            "POST",
            SERVICES_PATH,
            json_body={
                "name": "web",
                "port": 3000,
                "type": "app",
                "command": "echo started; exec python3 -m http.server 3000 --bind 127.0.0.1",
            },
        )
        call_bridge(
            project,
            "POST",
            SERVICES_PATH,
            json_body={
                "name": "nightly",
                "type": "cron",
                "schedule": "0 3 * * *",
                "command": "echo ran; exit 1",
            },
        )
        call_bridge(project, "POST", SERVICE_ACTION_PATH.format(name="nightly", action="run"))
        page = page_for(browser, stack, owner)
        open_workspace(page, stack, project)
        nightly = page.locator('.service-row[data-service-row="nightly"]')
        expect(nightly.locator(".service-run")).to_contain_text("exit 1", timeout=30_000)
        page.locator('.service-row[data-service-row="web"]').get_by_role(
            "button", name="Logs of web"
        ).click()
        expect(page.locator(".service-log")).to_contain_text("started", timeout=30_000)
        nightly.get_by_role("button", name="Runs of nightly").click()
        expect(page.locator(".runs-table")).to_be_visible(timeout=30_000)
        wait_for(lambda: page.locator(".runs-table .exit-failed").count() > 0, timeout=10)
        problems = audit(page, "workspace with services, a log and runs")
        problems += tab_through(page, "workspace with services", presses=30)
        assert not problems, "\n".join(problems)

        # A run that ends shows up in the open runs panel by itself (a service_run event).
        rows = page.locator(".runs-table tbody tr:not(.run-output-row)")
        before = rows.count()
        nightly.get_by_role("button", name="Run now nightly").click()
        expect(rows).to_have_count(before + 1, timeout=30_000)
