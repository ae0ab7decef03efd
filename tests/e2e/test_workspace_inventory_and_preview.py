"""Issue 5 acceptance 3-4 in a real browser: what the agent records appears in the sidebar
without a reload and opens in a viewer; the app it serves shows in the preview panel, whose
page cannot read the dashboard's cookies; a second user gets nothing (404 / 4404 / 403)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from accounts.models import User
from projects.models import Project, Status
from projects.preview.links import preview_host
from tests.e2e.helpers import use_scripted_model, wait_for
from tests.e2e.test_workspace_chat import (
    PASSWORD,
    destroy,
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

WRITE_REPORT = (
    "[[bash: printf '# Quarterly report\\n\\nRevenue is **up**.\\n' > report.md && "
    "python3 -c \"import os, sqlite3; c = sqlite3.connect(os.environ['STARTER_INSPECT_DB']); "
    "c.execute('insert into assets (id, name, type, path, description) values (?, ?, ?, ?, ?)', "
    "('q-report', 'Quarterly report', 'document', 'report.md', 'Q4 numbers')); c.commit()\"]]"
)


def serve_app(port: int) -> str:
    # Each sandboxed Sprite has its own port 3000, so every test run may use it. The
    # "Serving HTTP on … port N" line moves the preview there.
    return (
        "[[bash: mkdir -p site && echo '<h1 id=app-marker>Hello from the agent app</h1>' > "
        f"site/index.html && (nohup python3 -m http.server {port} --bind 127.0.0.1 "
        "--directory site > server.log 2>&1 &) && sleep 1 && "
        f"echo Serving HTTP on 127.0.0.1 port {port}]]"
    )


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    owner = User.objects.create_user("yara@example.com", PASSWORD)
    use_scripted_model(owner, scripted_model_server.base_url)
    project = running_project_for(owner, "Reports")
    yield owner, project
    destroy(project)


def preview_frame(page: Page, project: Project) -> Frame:
    frames = [f for f in page.frames if urlparse(f.url).hostname == preview_host(project.public_id)]
    assert frames, [f.url for f in page.frames]
    return frames[0]


def test_agent_asset_appears_live_and_app_shows_in_preview_without_dashboard_cookies(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    page = logged_in_page(browser, stack, owner)
    open_workspace(page, stack, project)
    page.evaluate("window.__sameDocument = true")

    send(page, WRITE_REPORT)
    item = page.locator(".inventory-item", has_text="Quarterly report")
    expect(item).to_be_visible(timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    item.click()
    viewer = page.locator(".panel-asset")
    expect(viewer.locator(".viewer-markdown h1")).to_have_text("Quarterly report")
    expect(viewer.locator(".viewer-markdown strong")).to_have_text("up")
    page.screenshot(path=str(shots / "asset-viewer.png"))

    # The preview panel opened before anything listens says so, then follows the app.
    page.get_by_role("button", name="App preview").click()
    frame = page.frame_locator(".preview-frame")
    expect(frame.locator("body")).to_contain_text("Nothing is running here yet", timeout=30_000)
    send(page, serve_app(3000))
    expect(frame.locator("#app-marker")).to_have_text("Hello from the agent app", timeout=30_000)
    page.screenshot(path=str(shots / "preview.png"))

    # From inside the preview page: the dashboard's cookies are out of reach.
    dashboard_cookies = page.evaluate("document.cookie")
    # Readable on the dashboard itself, so its absence below means something.
    assert "csrftoken=" in dashboard_cookies
    inside = preview_frame(page, project)
    assert "csrftoken" not in inside.evaluate("document.cookie")
    assert "sessionid" not in inside.evaluate("document.cookie")
    answer = inside.evaluate(
        """url => fetch(url, {credentials: "include"}).then(r => r.text()).then(
               t => "read:" + t, e => "blocked:" + e.name)""",
        stack.url + "/palette.json",
    )
    assert answer.startswith("blocked:"), answer
    assert "Reports" not in answer


def test_second_user_gets_404_for_workspace_4404_for_websocket_and_403_for_preview(
    stack: LiveStack,
    browser: Browser,
) -> None:
    owner = User.objects.create_user("zoe@example.com", PASSWORD)
    project = Project.objects.create(
        owner=owner,
        name="Zoe's private plan",
        status=Status.RUNNING,
        sprite_name="starter-not-real",
    )
    outsider = User.objects.create_user("mallory@example.com", PASSWORD)
    page = logged_in_page(browser, stack, outsider)

    response = page.goto(f"{stack.url}/p/{project.public_id}/")
    assert response is not None and response.status == 404
    assert "private plan" not in page.content()
    for path in ("agent/history/", "preview-link/", "inspect/", "files/view/?path=report.md"):
        assert page.request.get(f"{stack.url}/p/{project.public_id}/{path}").status == 404, path

    page.goto(stack.url + "/")  # a page of the dashboard's origin, with the outsider's session
    code = page.evaluate(
        """url => new Promise(resolve => {
             const socket = new WebSocket(url);
             socket.onopen = () => socket.send(JSON.stringify({type: "subscribe", after: null}));
             socket.onclose = event => resolve(event.code);
           })""",
        stack.url.replace("http://", "ws://") + f"/ws/projects/{project.public_id}/",
    )
    assert code == 4404

    port = stack.url.rsplit(":", 1)[1]
    preview = page.goto(f"http://{preview_host(project.public_id)}:{port}/")
    assert preview is not None and preview.status == 403
    wait_for(lambda: "private plan" not in page.content(), timeout=5)
