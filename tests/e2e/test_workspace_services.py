"""Issue 15, acceptance 1 in a real browser: the agent (scripted model) starts two web apps
as supervised services (``starter-service``, on ports 3000 and 5173); both show in the
sidebar and open in preview panels of their own ports; their logs stream into a logs panel;
the project is put to sleep, and a visit to the first preview link shows "Waking…" and then
the app, without any prompt. What the Sprite says (a description, a log line with markup)
stays text; an outsider reaches no service control, log or per-port preview."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.http import Http404
from playwright.sync_api import Browser, expect

from accounts.models import User
from projects.lifecycle import steps
from projects.models import Project, Status
from projects.preview.links import preview_host, preview_link
from tests.e2e.helpers import use_scripted_model, wait_for, wait_for_status
from tests.e2e.test_workspace_chat import (
    PASSWORD,
    destroy,
    in_thread,
    logged_in_page,
    open_workspace,
    running_project_for,
    screenshot_dir,
    send,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

HOSTILE_DESCRIPTION = "<b>bold</b><script>window.__pwned=1</script>"
HOSTILE_LOG_LINE = "<img src=x onerror=window.__pwned=1>"
START_TWO_APPS = (
    "[[bash: mkdir -p site-a site-b && echo '<h1 id=app-a>App A</h1>' > site-a/index.html && "
    "echo '<h1 id=app-b>App B</h1>' > site-b/index.html && "
    # Options before the name: svc's argparse REMAINDER takes everything after the name.
    f"starter-service start --port 3000 --description '{HOSTILE_DESCRIPTION}' web -- "
    f'sh -c \'echo "{HOSTILE_LOG_LINE}"; exec python3 -m http.server 3000 --bind 127.0.0.1 '
    "--directory site-a' && "
    "starter-service start --port 5173 vite -- "
    "python3 -m http.server 5173 --bind 127.0.0.1 --directory site-b && echo both-started]]"
)


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    owner = User.objects.create_user("svc-owner@example.com", PASSWORD)
    use_scripted_model(owner, scripted_model_server.base_url)
    project = running_project_for(owner, "Two apps")
    yield owner, project
    destroy(project)


def test_two_services_preview_per_port_logs_stream_and_a_visit_wakes_the_project(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)

    send(page, START_TWO_APPS)
    expect(page.locator(".panel-chat").first).to_contain_text("both-started", timeout=60_000)
    web = page.locator('.service-row[data-service-row="web"]')
    vite = page.locator('.service-row[data-service-row="vite"]')
    # Live: service_changed events refresh the sidebar, no reload.
    expect(web.locator(".service-state")).to_have_text("running", timeout=30_000)
    expect(vite.locator(".service-state")).to_have_text("running", timeout=30_000)
    # The description the Sprite gave is an attribute's text, never markup.
    assert web.locator(".inventory-item").get_attribute("title") == HOSTILE_DESCRIPTION
    assert web.locator("b, script").count() == 0

    # Each HTTP service opens in a preview panel of its own port.
    web.get_by_role("button", name="Open web").click()
    first = page.frame_locator('.preview-frame[title="The app on port 3000"]')
    expect(first.locator("#app-a")).to_have_text("App A", timeout=30_000)
    vite.get_by_role("button", name="Open vite").click()
    second = page.frame_locator('.preview-frame[title="The app on port 5173"]')
    expect(second.locator("#app-b")).to_have_text("App B", timeout=30_000)
    hosts = {urlparse(frame.url).hostname for frame in page.frames}
    assert {f"{project.public_id}-3000.localhost", f"{project.public_id}-5173.localhost"} <= hosts
    # A page of the 3000 preview cannot reach the 5173 app by naming the port: only the host
    # decides (the proxy drops a browser's port header).
    inside = next(
        f for f in page.frames if urlparse(f.url).hostname == preview_host(project.public_id, 3000)
    )
    forged = inside.evaluate(
        """() => fetch("/", {headers: {"x-starter-app-port": "5173"}}).then(r => r.text())"""
    )
    assert "App A" in forged and "App B" not in forged
    page.screenshot(path=str(shots / "two-previews.png"))

    # The log streams live: the hostile line as text, then the request the preview made.
    web.get_by_role("button", name="Logs of web").click()
    log = page.locator(".service-log")
    expect(log).to_contain_text(HOSTILE_LOG_LINE, timeout=30_000)
    expect(log).to_contain_text("GET / HTTP", timeout=30_000)
    page.locator(
        ".panel", has=page.locator('.preview-frame[title="The app on port 3000"]')
    ).locator("button", has_text="Reload").click()
    before = log.inner_text().count("GET / HTTP")
    wait_for(
        lambda: log.inner_text().count("GET / HTTP") > before,
        timeout=30,
        message="a new request line in the live log",
    )
    assert log.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(shots / "logs.png"))

    # Stop and start from the sidebar.
    web.get_by_role("button", name="Stop web").click()
    expect(web.locator(".service-state")).to_have_text("stopped", timeout=30_000)
    web.get_by_role("button", name="Start web").click()
    expect(web.locator(".service-state")).to_have_text("running", timeout=30_000)

    # Sleep (forced), then a visit to the first preview link: "Waking…", then the app.
    in_thread(steps.sleep, project.pk)
    project.refresh_from_db()
    assert project.status == Status.SLEEPING
    link = preview_link(owner, project, dashboard_url=stack.url, port=3000)
    visitor = page.context.new_page()
    visitor.goto(link)
    expect(visitor.locator("h1")).to_have_text("Waking…", timeout=30_000)
    visitor.screenshot(path=str(shots / "waking.png"))
    expect(visitor.locator("#app-a")).to_have_text("App A", timeout=120_000)
    assert urlparse(visitor.url).hostname == preview_host(project.public_id, 3000)
    wait_for_status(project, Status.RUNNING)
    visitor.screenshot(path=str(shots / "woken.png"))


def test_an_outsider_reaches_no_service_control_log_or_port_preview(
    stack: LiveStack, browser: Browser, owner_and_project: tuple[User, Project]
) -> None:
    _, project = owner_and_project
    outsider = User.objects.create_user("svc-outsider@example.com", PASSWORD)
    page = logged_in_page(browser, stack, outsider)
    page.goto(stack.url + "/")
    base = f"{stack.url}/p/{project.public_id}/services/web"
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    assert page.request.post(f"{base}/stop/", headers={"X-CSRFToken": csrf}).status == 404
    assert page.request.get(f"{base}/logs/stream/").status == 404
    assert page.request.get(f"{base}/runs/").status == 404
    link = f"{stack.url}/p/{project.public_id}/preview-link/?port=3000"
    assert page.request.get(link).status == 404
    with pytest.raises(Http404):
        preview_link(outsider, project, port=3000)
