"""In chromium: a preview's cookies stay on its own host. What an app sets (with a Domain
naming the preview domain, host-only, or from script) reaches neither another project's
preview nor the dashboard; the link's token is never in the web process's log."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from accounts.models import User
from projects.models import Project
from projects.preview.links import COOKIE_NAME, preview_link, preview_origin
from tests.preview.sample_app import SampleApp
from tests.support.browser import chromium, session_cookie
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)

APP_COOKIES = ("shared=", "dotted=", "own=", "script_shared=", "script_own=")
SET_FROM_SCRIPT = """(domain) => {
    document.cookie = 'script_shared=1; domain=' + domain + '; path=/';
    document.cookie = 'script_own=1; path=/';
}"""


def _open_preview(page: Page, link: str) -> str:
    """Follows a preview link as the dashboard's "open in new tab" does; the preview origin."""
    origin = link.split("/__starter_preview__", 1)[0]
    page.goto(link)
    page.wait_for_url(origin + "/", timeout=30_000)
    expect(page.locator("#app")).to_have_text("Hello from the agent's app", timeout=30_000)
    return origin


def _cookie_header(page: Page, url: str) -> str:
    response = page.goto(url)
    assert response is not None
    return str(json.loads(response.text()).get("cookie", ""))


def _browse(dashboard_url: str, session: str, link: str, neighbour_link: str) -> dict[str, Any]:
    """On its own thread (see test_preview_browser.py)."""
    with chromium() as browser:
        context = browser.new_context()
        context.add_cookies([session_cookie(dashboard_url, session)])
        page = context.new_page()
        origin = _open_preview(page, link)
        page.goto(origin + "/set-cookies")
        page.evaluate(SET_FROM_SCRIPT, settings.STARTER_PREVIEW_DOMAIN)
        seen: dict[str, Any] = {"own_preview": _cookie_header(page, origin + "/headers")}

        neighbour = _open_preview(page, neighbour_link)
        seen["neighbour_preview"] = _cookie_header(page, neighbour + "/headers")

        response = page.goto(dashboard_url + "/")
        assert response is not None
        seen["dashboard_request"] = response.request.all_headers().get("cookie", "")
        seen["dashboard_script"] = page.evaluate("document.cookie")
        context.close()
        return seen


def test_a_previews_cookies_reach_neither_another_preview_nor_the_dashboard(
    stack: LiveStack,
    owner: User,
    app_project: tuple[Project, SampleApp],
    second_app_project: tuple[Project, SampleApp],
) -> None:
    project, _ = app_project
    neighbour, _ = second_app_project
    client = Client()
    client.force_login(owner)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    link = preview_link(owner, project, dashboard_url=stack.url)
    neighbour_link = preview_link(owner, neighbour, dashboard_url=stack.url)
    assert urlparse(link).hostname != urlparse(neighbour_link).hostname
    with ThreadPoolExecutor(1) as pool:
        seen = pool.submit(_browse, stack.url, session, link, neighbour_link).result(timeout=180)

    # On its own host the app's cookies work, made host-only by the proxy ("shared" and
    # "dotted" named the preview domain; the browser alone would have dropped them).
    own = seen["own_preview"]
    assert {"shared=1", "dotted=1", "own=1", "script_own=1"} <= set(own.split("; ")), own
    assert COOKIE_NAME not in own  # the preview cookie never reaches the app
    assert "script_shared=" not in own  # a script cannot name the parent domain either
    for where in ("neighbour_preview", "dashboard_request", "dashboard_script"):
        assert not any(name in seen[where] for name in APP_COOKIES), (where, seen[where])
    assert settings.SESSION_COOKIE_NAME + "=" in seen["dashboard_request"]  # the cookie jar works

    # The link's token was never in a request line, so not in the web process's access log.
    assert stack.log_dir is not None
    log = (stack.log_dir / "web.log").read_text(errors="replace")
    assert "POST /__starter_preview__" in log
    for each in (link, neighbour_link):
        assert urlparse(each).fragment not in log


def test_the_preview_origin_is_its_own_site() -> None:
    """Dashboard and previews never share a host; the dashboard's cookies are host-only."""
    dashboard = urlparse(settings.SITE_URL).hostname or ""
    preview = urlparse(preview_origin("abc123")).hostname or ""
    assert preview == f"abc123.{settings.STARTER_PREVIEW_DOMAIN}"
    assert not preview.endswith("." + dashboard)
    assert settings.SESSION_COOKIE_DOMAIN is None
    assert settings.CSRF_COOKIE_DOMAIN is None
