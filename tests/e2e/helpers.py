"""Small helpers for end-to-end tests against the live stack."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from accounts import user_settings
from accounts.models import User
from organisations import provider_settings
from organisations.models import Organisation
from organisations.personal import personal_organisation_of
from projects.models import Project, Status
from tests.support.live_stack import LiveStack
from tests.support.model_server import API_KEY


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 60.0,
    interval: float = 0.2,
    message: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_for_status(project: Project, *statuses: str, timeout: float = 90.0) -> Project:
    def reached() -> bool:
        project.refresh_from_db()
        if project.status == Status.ERROR and Status.ERROR not in statuses:
            raise AssertionError(f"project failed: {project.status_message}")
        return project.status in statuses

    wait_for(reached, timeout, message=f"status in {statuses} (last: {project.status})")
    return project


def fresh_email(name: str) -> str:
    """An address no earlier attempt used: a rerun of a browser test signs up anew, and
    allauth sends one verification mail per address per 3 minutes (its cooldown), so a
    rerun with the same address would get no mail at all."""
    return f"{name}-{secrets.token_hex(4)}@example.com"


def mailed_verification_link(
    stack: LiveStack, email: str, after: int = 0, timeout: float = 15.0
) -> str:
    """The newest verification link mailed to `email` by the live stack, in a mail written
    after byte `after` of the log (so a stale link from an earlier mail is never used).

    The stack runs with DEBUG on, so Django's console e-mail backend writes every mail
    into the web process's log, as it does for a developer running scripts/run.
    """
    log = _web_log(stack)
    found: list[str] = []

    def mailed() -> bool:
        text = log.read_bytes()[after:].decode(errors="replace")
        to = text.rfind(f"To: {email}")
        found[:] = (
            re.findall(r"https?://\S+/accounts/confirm-email/\S+/", text[to:]) if to >= 0 else []
        )
        return bool(found)

    wait_for(mailed, timeout, message=f"a new verification mail to {email} in {log}")
    return found[0]


def _web_log(stack: LiveStack) -> Path:
    assert stack.log_dir is not None
    return stack.log_dir / "web.log"


def sign_up_and_verify(page: Page, stack: LiveStack, email: str, password: str) -> None:
    """Sign up in the browser, then follow the mailed link: the new user is logged in."""
    log = _web_log(stack)
    mark = log.stat().st_size if log.exists() else 0
    page.goto(stack.url + "/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", password)
    page.fill("input[name=password2]", password)
    page.click("main button[type=submit]")
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    page.goto(mailed_verification_link(stack, email, after=mark))
    expect(page.get_by_role("heading", name="Confirm Email Address")).to_be_visible()
    page.click("main button[type=submit]")  # confirming is a POST, never a bare GET


def use_scripted_model(user: User, base_url: str, organisation: Organisation | None = None) -> None:
    """Point the user's agents at the scripted model server, as a custom provider of
    `organisation` (default: their personal one; the gateway reads the provider from the
    project's organisation)."""
    provider_settings.save_custom_provider(
        organisation or personal_organisation_of(user),
        user,
        "fake",
        "openai-completions",
        base_url,
        ["fake-model", "fake-model-2"],
        API_KEY,  # the shared scripted model server answers only this key
    )
    user_settings.update_defaults(user, "fake", "fake-model", "off")


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions `text` (a Sprite's home path, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found
