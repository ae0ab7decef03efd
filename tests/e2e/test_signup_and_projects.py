"""Acceptance 1 of the foundation: sign up, log in, create a project, see it; the operator
sees it in the admin. Real daphne, real PostgreSQL, real chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from accounts.models import User
from projects.models import Project
from tests.e2e.helpers import sign_up_and_verify
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)


def test_signup_login_create_project_and_operator_sees_it(
    live_stack: LiveStack, browser: Browser
) -> None:
    page = browser.new_page()
    sign_up_and_verify(page, live_stack, "carol@example.com", "a-long-passphrase-42")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

    # Log out and in again with the new account.
    page.click("summary[aria-label='Account menu']")
    page.click("text=Log out")
    page.goto(live_stack.url + "/accounts/login/")
    page.fill("input[name=login]", "carol@example.com")
    page.fill("input[name=password]", "a-long-passphrase-42")
    page.click("main button[type=submit]")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

    page.fill("input[name=name]", "Expense tracker")
    page.click("text=Create project")
    expect(page.get_by_role("heading", name="Expense tracker")).to_be_visible()
    page.goto(live_stack.url + "/")
    expect(page.locator(".project-card", has_text="Expense tracker")).to_be_visible()
    project = Project.objects.get(name="Expense tracker")
    assert project.owner.email == "carol@example.com"
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
