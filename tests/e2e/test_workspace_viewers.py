"""Issue 17 acceptance 3 and the viewers' part of 4, in a real browser: a ``.xlsx``, an HTML
page, a SQLite database and a 50 MB log each open in a viewer (the log in part, with a note
and a download); the HTML page is framed from the preview origin, sandboxed, and its
script, which tries the dashboard's cookies, its parent and the dashboard's API, gets
nothing; the viewer panels pass axe."""

from __future__ import annotations

import io
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from openpyxl import Workbook
from playwright.sync_api import Browser, Locator, Page, Request, Response, expect

from accounts.models import User
from projects.models import Project
from projects.preview.links import preview_host
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.test_accessibility import AXE, AXE_RUN, WCAG_TAGS
from tests.e2e.test_workspace_chat import (
    in_thread,
    logged_in_page,
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

# The agent's page: every way out it tries is written into #result for the test to read.
HOSTILE_PAGE = """<!doctype html><html><head><title>Agent report</title></head><body>
<h1>Agent report</h1><pre id="result">running</pre>
<script>
const out = [];
const result = document.getElementById("result");
const note = (line) => { out.push(line); result.textContent = out.join("\\n"); };
const attempt = (name, action) => {
  try { note(name + ":" + action()); } catch (e) { note(name + "-blocked:" + e.name); }
};
attempt("cookie", () => document.cookie);
attempt("parent", () => parent.document.cookie);
attempt("storage", () => { localStorage.setItem("x", "1"); return "open"; });
attempt("top", () => { top.location.href = "DASHBOARD/accounts/logout/"; return "asked"; });
fetch("DASHBOARD/api/v1/projects/", {credentials: "include"}).then(
  (r) => r.text().then((t) => note("fetch-read:" + t.slice(0, 80))),
  (e) => note("fetch-blocked:" + e.name));
</script></body></html>
"""


def workbook_bytes() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["region", "total"])
    sheet.append(["North", 1200])
    sheet.append(["<b>South</b>", 900])
    workbook.create_sheet("Costs")["A1"] = "rent"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def database_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "app.db"
        connection = sqlite3.connect(path)
        connection.executescript(
            "create table orders (id integer primary key, customer text, amount real);"
            "create table notes (body text);"
            "with recursive c(n) as (select 1 union all select n + 1 from c where n < 250) "
            "insert into orders (customer, amount) select 'customer ' || n, n * 1.5 from c;"
        )
        connection.commit()
        connection.close()
        return path.read_bytes()


def log_bytes() -> bytes:
    line = b"2026-11-30 12:00:00 INFO step done\n"
    body = line * (50 * 1024 * 1024 // len(line))
    return b"FIRST LINE\n" + body + b"LAST LINE of the build\n"


def write_into_sprite(project: Project, path: str, data: bytes) -> None:
    in_thread(run_sync, backend_for(project).write_file(project.sprite_name, path, data))


def open_viewer(page: Page, path: str) -> Locator:
    page.evaluate("path => window.starterWorkspace.openPanel('asset', {path, name: path})", path)
    return page.locator(".panel-asset").filter(has=page.locator(".viewer-path", has_text=path))


def audit_viewers(page: Page, stack: LiveStack) -> list[str]:
    """axe on the viewer panels only (the rest of the workspace is test_accessibility's).
    axe is served as a same-origin script, so the dashboard's CSP stays on for the test."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.route(
            stack.url + "/__axe__.js",
            lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"),
        )
        page.add_script_tag(url=stack.url + "/__axe__.js")
    run = AXE_RUN.replace("axe.run(document,", "axe.run({include: [['.panel-asset']]},")
    violations: list[dict[str, Any]] = page.evaluate(run, WCAG_TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} {v['nodes']}" for v in violations]


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project("viola@example.com", "Viewers", scripted_model_server) as found:
        yield found


def test_xlsx_html_sqlite_and_a_50_mb_log_open_in_viewers_and_the_page_is_sandboxed(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    spreadsheet = workbook_bytes()
    write_into_sprite(project, "out/sales.xlsx", spreadsheet)
    write_into_sprite(project, "out/app.db", database_bytes())
    write_into_sprite(project, "logs/build.log", log_bytes())
    write_into_sprite(
        project, "out/report.html", HOSTILE_PAGE.replace("DASHBOARD", stack.url).encode()
    )
    page = logged_in_page(browser, stack, owner)
    dashboard_requests: list[str] = []
    frame_responses: list[Response] = []

    def record(request: Request) -> None:
        if request.frame != page.main_frame and request.url.startswith(stack.url):
            dashboard_requests.append(request.url)

    page.on("request", record)
    page.on(
        "response",
        lambda response: frame_responses.append(response) if "/file/" in response.url else None,
    )
    open_workspace(page, stack, project)
    problems: list[str] = []

    # A spreadsheet: its first sheet as a table (cell text as text), the others one click away;
    # the download gives the same bytes.
    sheet = open_viewer(page, "out/sales.xlsx")
    expect(sheet.locator(".viewer-sheet td", has_text="North")).to_be_visible(timeout=30_000)
    expect(sheet.locator(".viewer-sheet td", has_text="<b>South</b>")).to_be_visible()
    problems += audit_viewers(page, stack)
    sheet.get_by_role("button", name="Costs").click()
    expect(sheet.locator(".viewer-sheet td", has_text="rent")).to_be_visible()
    with page.expect_download() as download:
        sheet.get_by_role("link", name="Download sales.xlsx").click()
    assert Path(download.value.path()).read_bytes() == spreadsheet
    page.screenshot(path=str(shots / "viewer-xlsx.png"))

    # A database: its tables (the first one shown), a page of rows, the next page.
    database = open_viewer(page, "out/app.db")
    expect(database.get_by_text("No rows")).to_be_visible(timeout=30_000)
    problems += audit_viewers(page, stack)
    database.locator("select[name=table]").select_option("orders")
    expect(database.locator(".viewer-database td", has_text="customer 100")).to_be_visible()
    expect(database.get_by_text("Rows 1\N{EN DASH}100 of 250")).to_be_visible()
    database.get_by_role("button", name="Next").click()
    expect(database.locator(".viewer-database td", has_text="customer 101")).to_be_visible()
    problems += audit_viewers(page, stack)
    page.screenshot(path=str(shots / "viewer-sqlite.png"))

    # A 50 MB log: its end, a note saying how much of it is shown, and a download.
    log = open_viewer(page, "logs/build.log")
    expect(log.locator(".viewer-note")).to_have_text(
        "Showing the last 1 MB of 50 MB.", timeout=30_000
    )
    expect(log.locator(".code-view")).to_contain_text("LAST LINE of the build")
    expect(log.locator(".code-view")).not_to_contain_text("FIRST LINE")
    assert log.get_by_role("link", name="Download build.log").get_attribute("href")
    problems += audit_viewers(page, stack)

    # The HTML page: framed from the preview origin, sandboxed without allow-same-origin,
    # and its script reaches neither a cookie, nor its parent, nor the dashboard.
    assert "csrftoken=" in page.evaluate("document.cookie")  # there to be stolen
    report = open_viewer(page, "out/report.html")
    frame_element = report.locator("iframe.viewer-html")
    expect(frame_element).to_have_attribute("sandbox", "allow-scripts", timeout=30_000)
    source = urlsplit(frame_element.get_attribute("src") or "")
    assert source.hostname == preview_host(project.public_id)
    inside = report.frame_locator("iframe.viewer-html")
    expect(inside.locator("#result")).to_contain_text("fetch-", timeout=15_000)
    result = inside.locator("#result").inner_text()
    assert "cookie-blocked:SecurityError" in result, result
    assert "parent-blocked:SecurityError" in result, result
    assert "top-blocked" in result or "top:asked" in result, result
    assert "storage-blocked:SecurityError" in result, result
    assert "fetch-blocked:TypeError" in result, result
    assert "csrftoken" not in result and "sessionid" not in result and "fetch-read" not in result
    assert page.url.startswith(f"{stack.url}/p/{project.public_id}/")  # not navigated away
    policy = next(r for r in frame_responses if urlsplit(r.url).hostname == source.hostname)
    header = policy.all_headers()["content-security-policy"]
    assert header.startswith("sandbox allow-scripts;") and "allow-same-origin" not in header
    assert dashboard_requests == [], dashboard_requests
    page.screenshot(path=str(shots / "viewer-html.png"))
    problems += audit_viewers(page, stack)

    assert problems == [], "\n".join(problems)
