"""Acceptance 1 of the foundation: sign up, log in, create a project, see it; the operator
sees it in the admin. Real daphne, real PostgreSQL, real chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route, expect

from accounts.models import User
from projects.models import Project
from tests.e2e.helpers import fresh_email, sign_up_and_verify, wait_for
from tests.e2e.test_workspace_chat import logged_in_page
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)


def test_signup_login_create_project_and_operator_sees_it(
    live_stack: LiveStack, browser: Browser
) -> None:
    page = browser.new_page()
    carol = fresh_email("carol")
    sign_up_and_verify(page, live_stack, carol, "a-long-passphrase-42")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

    # Log out and in again with the new account.
    page.click("summary[aria-label='Account menu']")
    page.click("text=Log out")
    page.goto(live_stack.url + "/accounts/login/")
    page.fill("input[name=login]", carol)
    page.fill("input[name=password]", "a-long-passphrase-42")
    page.click("main button[type=submit]")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

    page.fill("input[name=name]", "Expense tracker")
    page.click("text=Create project")
    expect(page.get_by_role("heading", name="Expense tracker")).to_be_visible()
    page.goto(live_stack.url + "/")
    expect(page.locator(".project-card", has_text="Expense tracker")).to_be_visible()
    project = Project.objects.get(name="Expense tracker")
    assert project.owner.email == carol
    page.close()

    User.objects.create_superuser("ops@example.com", "operator-passphrase-1")
    admin = browser.new_page()
    admin.goto(live_stack.url + "/admin/")
    admin.fill("input[name=username]", "ops@example.com")
    admin.fill("input[name=password]", "operator-passphrase-1")
    admin.click("input[type=submit]")
    admin.goto(live_stack.url + "/admin/projects/project/?q=Expense")
    expect(admin.locator("#result_list")).to_contain_text("Expense tracker")
    expect(admin.locator("#result_list")).to_contain_text(project.public_id)
    admin.close()


def test_a_name_typed_before_the_page_scripts_run_stays_in_the_name_field(
    live_stack: LiveStack, browser: Browser
) -> None:
    """The home's palette takes the focus when its script runs, but not from a field the
    person already typed in (CI caught a fast hand losing "Expense tracker" to it)."""
    owner = User.objects.create_user("quick@example.com", "a-long-passphrase-43")
    page = logged_in_page(browser, live_stack, owner)
    held: list[Route] = []
    # The palette's script waits, unanswered, until the test releases it.
    page.route("**/js/pages/palette*.js", lambda route: held.append(route))
    page.goto(live_stack.url + "/", wait_until="commit")
    page.click("#id_name")
    page.keyboard.type("Expense")
    wait_for(lambda: bool(held), timeout=10, message="the palette's script requested")
    held[0].continue_()
    expect(page.locator(".home-palette .palette-input")).to_be_attached()
    page.wait_for_load_state("load")
    page.keyboard.type(" tracker")
    expect(page.locator("#id_name")).to_have_value("Expense tracker")
    expect(page.locator(".home-palette .palette-input")).to_have_value("")

    # With nothing focused first, the palette still takes the focus (the home's default).
    page.unroute("**/js/pages/palette*.js")
    page.goto(live_stack.url + "/")
    expect(page.locator(".home-palette .palette-input")).to_be_focused()
    page.close()
