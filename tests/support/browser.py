"""Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# The machine has no internet: without these, chromium keeps trying to reach Google.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Playwright's default of 5 s for an `expect` is short for a page that waits on daphne,
# Celery and a Sprite on a shared 2-CPU machine while other suites run (CI measured a
# sign-up's redirect missing it); a behaviour that is broken still fails, only later.
EXPECT_TIMEOUT_MS = 10_000


@contextmanager
def chromium() -> Iterator[Browser]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def session_cookie(dashboard_url: str, session_key: str) -> dict[str, Any]:
    """The dashboard's session cookie as Playwright's ``add_cookies`` takes it: a browser
    that is signed in, for tests of what other origins can do with that."""
    from django.conf import settings

    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": session_key,
        "url": dashboard_url,
        "httpOnly": True,
        "sameSite": "Lax",
    }
