"""In chromium: the dashboard frames the preview on its own origin; the framed app works (its
cookie is set and sent from inside the frame) and cannot read or use the dashboard's cookies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from accounts.models import User
from projects.models import Project
from projects.preview.links import preview_host, preview_link
from tests.preview.sample_app import SampleApp
from tests.support.browser import chromium, session_cookie
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)

FRAME_PREVIEW = """(src) => {
    const frame = document.createElement('iframe');
    frame.id = 'preview'; frame.src = src; frame.style.width = '600px';
    document.body.appendChild(frame);
}"""
FETCH_DASHBOARD = """async (url) => {
    try {
        const response = await fetch(url, {credentials: 'include'});
        return 'read: ' + (await response.text()).slice(0, 80);
    } catch (error) { return 'blocked: ' + error.name; }
}"""


def _browse(dashboard_url: str, session: str, link: str, host: str) -> dict[str, Any]:
    """Runs on its own thread: Playwright's sync API keeps an event loop in its thread, where
    the backend calls of the fixtures (asyncio.run) could not run."""
    with chromium() as browser:
        context = browser.new_context()
        context.add_cookies(
            [
                session_cookie(dashboard_url, session),
                {
                    "name": "csrftoken",
                    "value": "dashboard-csrf",
                    "url": dashboard_url,
                    "sameSite": "Lax",
                },
            ]
        )
        page = context.new_page()
        page.goto(dashboard_url + "/")
        seen: dict[str, Any] = {"dashboard_cookies": page.evaluate("document.cookie")}
        page.evaluate(FRAME_PREVIEW, link)
        expect(page.frame_locator("#preview").locator("#app")).to_have_text(
            "Hello from the agent's app", timeout=30_000
        )
        frame = next(f for f in page.frames if urlparse(f.url).hostname == host)
        seen["preview_cookies"] = frame.evaluate("document.cookie")
        seen["fetch_dashboard"] = frame.evaluate(FETCH_DASHBOARD, dashboard_url + "/")
        context.close()
        return seen


def test_framed_preview_works_and_cannot_read_the_dashboards_cookies(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    client = Client()
    client.force_login(owner)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    link = preview_link(owner, project, dashboard_url=stack.url)
    with ThreadPoolExecutor(1) as pool:
        seen = pool.submit(
            _browse, stack.url, session, link, preview_host(project.public_id)
        ).result(timeout=120)

    assert "csrftoken=" in seen["dashboard_cookies"]  # readable on the dashboard itself
    # Inside the preview: none of the dashboard's cookies, and the preview's own is HttpOnly.
    assert seen["preview_cookies"] == ""
    assert seen["fetch_dashboard"].startswith("blocked"), seen["fetch_dashboard"]
