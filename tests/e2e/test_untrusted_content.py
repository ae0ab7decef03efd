"""Issue 11, "untrusted content never scripts the dashboard", in a real browser.

What a Sprite's agent writes (a Markdown asset, a chat reply, a notification, an HTML or SVG
file) is shown on the dashboard without ever driving htmx or running script there, and the
Content-Security-Policy refuses whatever script gets injected anyway (the console shows it).
Real daphne + Celery, the local Sprite backend with the real bridge and pi, Debian's
chromium; only the model is scripted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from accounts.models import User
from projects.models import Project
from projects.preview.links import preview_host
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import use_scripted_model
from tests.e2e.test_workspace_chat import (
    PASSWORD,
    in_thread,
    logged_in_page,
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

# The finding's payload: htmx attributes under data-*, an inline handler, bare hx-*.
MARKDOWN_PAYLOAD = (
    "# Quarterly report\n\n"
    '<div data-hx-trigger="load" data-hx-get="/palette.json" '
    'data-hx-on--before-request="window.__pwned=1">x</div>\n\n'
    '<img src=x onerror="window.__pwned=2">\n\n'
    '<div hx-get="/palette.json" hx-trigger="load">y</div>\n'
)
HTML_PAYLOAD = "<h1>Landing</h1><script>window.__pwned=3</script>\n"
SVG_PAYLOAD = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    "<script>window.__pwned=4</script><rect width='10' height='10'/></svg>"
)
# Every attribute name inside the rendered content, for the "stripped" assertions.
ATTRIBUTE_NAMES = (
    "root => Array.from(root.querySelectorAll('*'))"
    ".flatMap(node => Array.from(node.attributes).map(attribute => attribute.name))"
)
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@dataclass
class Watched:
    """A page with what it logged and what it asked for."""

    page: Page
    console: list[str] = field(default_factory=list)
    palette_requests: list[str] = field(default_factory=list)

    def csp_messages(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def pwned(self) -> object:
        return self.page.evaluate("typeof window.__pwned === 'undefined' ? null : window.__pwned")


def watched_page(browser: Browser, stack: LiveStack, user: User) -> Watched:
    page = logged_in_page(browser, stack, user)
    page.add_init_script(RECORD_VIOLATIONS)
    watched = Watched(page)
    page.on("console", lambda message: watched.console.append(message.text))

    def record(request: Request) -> None:
        if "/palette.json" in request.url:
            watched.palette_requests.append(request.url)

    page.on("request", record)
    return watched


def write_into_sprite(project: Project, path: str, text: str) -> None:
    project.refresh_from_db()
    in_thread(run_sync, backend_for(project).write_file(project.sprite_name, path, text.encode()))


def open_asset(page: Page, path: str) -> None:
    page.evaluate(
        "path => window.starterWorkspace.openPanel('asset', {path: path, name: path})", path
    )


def assert_inert(watched: Watched, content_selector: str) -> None:
    """Nothing in the content asked htmx for anything, ran, or kept an attribute to act on,
    even after htmx looks at the whole page again (as a later swap would make it)."""
    watched.page.evaluate("window.htmx.process(document.body)")
    watched.page.wait_for_timeout(1500)
    assert watched.palette_requests == []
    assert watched.pwned() is None
    names = watched.page.locator(content_selector).first.evaluate(ATTRIBUTE_NAMES)
    kept = [name for name in names if name.startswith(("data-", "hx-", "on", "style"))]
    assert kept == [], kept


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "mallory-target@example.com", "Untrusted", scripted_model_server
    ) as found:
        yield found


def test_agent_markdown_never_drives_htmx_or_runs_script(
    stack: LiveStack, browser: Browser, owner_and_project: tuple[User, Project]
) -> None:
    owner, project = owner_and_project
    watched = watched_page(browser, stack, owner)
    page = watched.page
    open_workspace(page, stack, project)

    # A Markdown asset, opened in the file viewer.
    write_into_sprite(project, "report.md", MARKDOWN_PAYLOAD)
    open_asset(page, "report.md")
    viewer = page.locator(".panel-asset .markdown.viewer-markdown")
    expect(viewer.locator("h1")).to_have_text("Quarterly report", timeout=30_000)
    expect(viewer).to_contain_text("x")
    expect(viewer.locator("img")).to_have_count(1)  # kept, without its handler
    assert page.locator(".panel-asset .viewer").get_attribute("hx-disable") == ""
    assert_inert(watched, ".panel-asset .markdown.viewer-markdown")

    # The same payload as the agent's chat reply.
    send(page, "[[reply: " + MARKDOWN_PAYLOAD + "]]")
    reply = page.locator(".panel-chat .msg-assistant .msg-text").last
    expect(reply.locator("h1")).to_have_text("Quarterly report", timeout=30_000)
    assert_inert(watched, ".panel-chat .msg-assistant .msg-text >> nth=-1")

    # A notification is text, whatever it contains.
    send(page, '[[tool: notify_dashboard {"message": "<img src=x onerror=window.__pwned=5>"}]]')
    expect(page.locator("#toasts .toast").last).to_have_text(
        "<img src=x onerror=window.__pwned=5>", timeout=30_000
    )
    assert watched.pwned() is None


def test_agent_html_and_svg_never_run_on_the_dashboard_origin(
    stack: LiveStack, browser: Browser, owner_and_project: tuple[User, Project]
) -> None:
    owner, project = owner_and_project
    watched = watched_page(browser, stack, owner)
    page = watched.page
    open_workspace(page, stack, project)

    # Markup in a code file is shown as its (highlighted) source, never as markup.
    write_into_sprite(project, "site/index.xml", HTML_PAYLOAD)
    open_asset(page, "site/index.xml")
    code = page.locator(".panel-asset .code-view code")
    expect(code).to_contain_text("<script>window.__pwned=3</script>", timeout=30_000)
    # highlight.js loaded without eval and coloured it (the CSP allows no 'unsafe-eval').
    expect(code.locator(".hljs-tag").first).to_be_visible(timeout=15_000)
    expect(page.locator(".panel-asset script")).to_have_count(0)
    assert watched.pwned() is None

    # An HTML page runs only in a sandboxed frame of the preview origin (issue 17; its
    # abuse cases are in test_workspace_viewers.py), never on the dashboard's.
    write_into_sprite(project, "site/index.html", HTML_PAYLOAD)
    open_asset(page, "site/index.html")
    frame = page.locator(".panel-asset iframe.viewer-html")
    expect(frame).to_have_attribute("sandbox", "allow-scripts", timeout=30_000)
    assert urlsplit(frame.get_attribute("src") or "").hostname == preview_host(project.public_id)
    expect(page.locator(".panel-asset script")).to_have_count(0)
    assert watched.pwned() is None

    # An SVG with script shows as an image, and even opened on its own it runs nothing: it is
    # served as a sandboxed document.
    write_into_sprite(project, "logo.svg", SVG_PAYLOAD)
    open_asset(page, "logo.svg")
    image = page.locator(".panel-asset .viewer-image img")
    expect(image).to_be_visible(timeout=30_000)
    raw_url = image.evaluate("img => img.src")
    assert watched.pwned() is None

    alone = page.context.new_page()
    messages: list[str] = []
    alone.on("console", lambda message: messages.append(message.text))
    alone.goto(raw_url)
    alone.wait_for_timeout(500)
    assert alone.evaluate("typeof window.__pwned") == "undefined"
    assert any("sandboxed" in text and "allow-scripts" in text for text in messages), messages
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # Nothing the dashboard itself needs was refused.
    assert watched.csp_messages() == []
    assert page.evaluate("window.__violations") == []


def test_injected_inline_script_is_refused_by_the_policy(
    stack: LiveStack, browser: Browser
) -> None:
    user = User.objects.create_user("csp-check@example.com", PASSWORD)
    watched = watched_page(browser, stack, user)
    page = watched.page
    response = page.goto(f"{stack.url}/settings/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy

    assert "unsafe-eval" not in policy and "unsafe-inline" not in policy
    # htmx evaluates no strings (hx-on, js: values), runs no swapped-in scripts.
    config = page.evaluate(
        "() => [htmx.config.allowEval, htmx.config.allowScriptTags, htmx.config.selfRequestsOnly]"
    )
    assert config == [False, False, True]

    # As if a sanitiser had missed it: an inline script and an inline handler.
    page.evaluate(
        """() => {
             const script = document.createElement("script");
             script.textContent = "window.__pwned = 6";
             document.body.appendChild(script);
             const holder = document.createElement("div");
             holder.innerHTML = '<img src="data:," onerror="window.__pwned = 7">';
             document.body.appendChild(holder);
           }"""
    )
    page.wait_for_timeout(500)
    assert watched.pwned() is None
    violations = page.evaluate("window.__violations")
    assert any(v.startswith("script-src") and "inline" in v for v in violations), violations
    console = " ".join(watched.console)
    assert "Content Security Policy directive 'script-src 'self''" in console, console


@pytest.mark.parametrize(
    "path", ["/", "/settings/", "/admin/", "/admin/projects/project/", "/accounts/login/"]
)
def test_dashboard_pages_work_under_the_policy(
    stack: LiveStack, browser: Browser, path: str
) -> None:
    operator = User.objects.create_superuser("csp-ops@example.com", PASSWORD)
    watched = watched_page(browser, stack, operator)
    watched.page.goto(stack.url + path)
    watched.page.wait_for_load_state("load")
    watched.page.wait_for_timeout(300)
    assert watched.csp_messages() == []
    assert watched.page.evaluate("window.__violations") == []


def test_api_docs_render_under_the_policy(stack: LiveStack, browser: Browser) -> None:
    user = User.objects.create_user("csp-docs@example.com", PASSWORD)
    watched = watched_page(browser, stack, user)
    watched.page.goto(f"{stack.url}/api/v1/docs")
    expect(watched.page.locator("#swagger-ui .info .title").first).to_be_visible(timeout=15_000)
    expect(watched.page.locator("#swagger-ui .opblock").first).to_be_visible()
    assert watched.csp_messages() == []
    assert watched.page.evaluate("window.__violations") == []


def test_settings_page_behaviours_moved_out_of_inline_script_still_work(
    stack: LiveStack, browser: Browser
) -> None:
    user = User.objects.create_user("csp-settings@example.com", PASSWORD)
    use_scripted_model(user, "http://127.0.0.1:9/v1")
    watched = watched_page(browser, stack, user)
    page = watched.page
    page.goto(f"{stack.url}/settings/")
    # The model field suggests the chosen provider's models…
    suggestions = page.locator("#model-names option")
    expect(suggestions).to_have_count(2)
    assert suggestions.evaluate_all("nodes => nodes.map(n => n.value)") == [
        "fake-model",
        "fake-model-2",
    ]
    # …and "Edit" fills the provider form.
    page.locator("[data-edit-provider]").first.click()
    expect(page.locator("#custom-provider-form-title")).to_have_text("Edit fake")
    expect(page.locator("#custom-provider-form [name=base_url]")).to_have_value(
        "http://127.0.0.1:9/v1"
    )
    assert watched.csp_messages() == []
