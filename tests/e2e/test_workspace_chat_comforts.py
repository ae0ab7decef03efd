"""Issue 18, the chat comforts, in a real browser: copy buttons on code blocks and messages,
timestamps, search within a conversation, a notification and a title badge when a run ends
in a hidden tab, and a Markdown export; and the agent's hostile text stays inert in all of
them.

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, Debian's chromium; only the model is scripted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.models import User
from projects.models import Project
from tests.e2e.helpers import wait_for
from tests.e2e.test_workspace_chat import (
    LAPTOP,
    bridge_messages,
    open_workspace,
    owner_with_running_project,
    panel_session_ids,
    send,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

# Whether the tab is hidden is ours to say (headless chromium never hides a page), and every
# Notification the page constructs is recorded; the page itself uses the real API.
FAKE_VISIBILITY_AND_RECORD_NOTICES = """
window.__hidden = false;
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get() { return window.__hidden ? "hidden" : "visible"; } });
Object.defineProperty(Document.prototype, "hidden", {
  configurable: true, get() { return window.__hidden; } });
window.__setHidden = (hidden) => {
  window.__hidden = hidden;
  document.dispatchEvent(new Event("visibilitychange"));
};
window.__notices = [];
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notices.push({title, body: (options && options.body) || ""});
    }
  };
}
"""
RECORD_PWNED = "window.__pwned = null;"

# The active search hit: its text, where it is, and whether the log shows it.
ACTIVE_HIT = """() => {
  const highlight = CSS.highlights.get("chat-search-active");
  if (!highlight || highlight.size !== 1) return null;
  const range = [...highlight][0];
  const rect = range.getBoundingClientRect();
  const log = document.querySelector(".panel-chat .chat-log");
  const box = log.getBoundingClientRect();
  const message = range.startContainer.parentElement.closest(".msg");
  return {
    text: range.toString(),
    where: (message ? message.dataset.messageKey : "?") + "@"
      + Math.round(rect.top + log.scrollTop),
    inView: rect.height > 0 && rect.top >= box.top && rect.bottom <= box.bottom,
    all: CSS.highlights.get("chat-search").size,
  };
}"""


def comfort_page(browser: Browser, stack: LiveStack, user: User, *permissions: str) -> Page:
    """A signed-in laptop page whose context grants `permissions` to the dashboard."""
    client = Client()
    client.force_login(user)
    context: BrowserContext = browser.new_context(viewport=LAPTOP)
    if permissions:
        context.grant_permissions(list(permissions), origin=stack.url)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}]
    )
    page = context.new_page()
    page.add_init_script(FAKE_VISIBILITY_AND_RECORD_NOTICES + RECORD_PWNED)
    return page


def send_long(page: Page, text: str) -> None:
    """Send a long prompt: Playwright's fill types multi-line text slowly (minutes for
    100 kB), so the text is set as a paste would, then sent with Enter."""
    box = page.locator(".panel-chat .composer-input").first
    box.evaluate(
        "(box, text) => { box.value = text;"
        " box.dispatchEvent(new Event('input', {bubbles: true})); }",
        text,
    )
    box.press("Enter")


def clipboard(page: Page) -> str:
    return str(page.evaluate("navigator.clipboard.readText()"))


def rename_session(page: Page, name: str) -> None:
    chat = page.locator(".panel-chat").first
    chat.locator(".chat-toolbar").get_by_role("button", name="Rename", exact=True).click()
    chat.locator(".session-name-input").fill(name)
    chat.locator(".session-name-input").press("Enter")
    wait_for(
        lambda: page.evaluate("window.starterWorkspace.views[0].currentName()") == name,
        timeout=20,
        message="the session's new name in the picker",
    )


def export(page: Page) -> tuple[str, str]:
    """Export the first chat's conversation: (the file's name, its text)."""
    with page.expect_download() as info:
        page.locator(".panel-chat .chat-toolbar").first.get_by_role("button", name="Export").click()
    download = info.value
    path = download.path()
    return download.suggested_filename, Path(str(path)).read_text(encoding="utf-8")


@pytest.fixture
def project_for_comforts(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "comfort@example.com", "Comforts", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


# -- copy, timestamps, search, export ----------------------------------------------------------


CODE = "def greet(name):\n    return f'hello {name}'"
FILLER = "\n\n".join(
    f"Filler paragraph {n} keeps the log long enough to scroll." for n in range(25)
)


def test_copy_timestamps_search_and_export(
    stack: LiveStack, browser: Browser, project_for_comforts: tuple[User, Project]
) -> None:
    owner, project = project_for_comforts
    page = comfort_page(browser, stack, owner, "clipboard-read", "clipboard-write")
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first

    # A tool call and a reply with a code block.
    send(page, "[[bash: echo tool-output-for-export]]")
    expect(chat.locator(".msg-assistant").last).to_contain_text(
        "Done. tool-output-for-export", timeout=30_000
    )
    send(page, f"[[reply: Here it is:\n\n```python\n{CODE}\n```\n\nCall it with a name.]]")
    answer = chat.locator(".chat-messages .msg-assistant").last
    expect(answer).to_contain_text("Call it with a name.", timeout=30_000)

    # Copy the code block: the clipboard holds exactly the code, and the button says so.
    block = answer.locator(".code-block")
    expect(block).to_have_count(1)
    block.hover()
    block.get_by_role("button", name="Copy code").click()
    expect(block.get_by_role("button", name="Copy code")).to_have_attribute("data-label", "Copied")
    expect(chat.locator(".chat > [role=status][aria-live=polite]")).to_have_text(
        "Copied to the clipboard."
    )
    assert clipboard(page) == CODE

    # Copy the whole message: its Markdown source, fences included.
    answer.hover()
    answer.get_by_role("button", name="Copy the agent's message (Markdown)").click()
    assert clipboard(page) == f"Here it is:\n\n```python\n{CODE}\n```\n\nCall it with a name."
    user = chat.locator(".msg-user").last
    user.hover()
    user.get_by_role("button", name="Copy your message (Markdown)").click()
    assert clipboard(page).startswith("[[reply: Here it is:")

    # Timestamps: pi's own, as a <time> with the full date in its title.
    session_id = panel_session_ids(page)[0]
    expected = bridge_messages(project, session_id)
    last_answer = [m for m in expected if m["role"] == "assistant"][-1]
    time = answer.locator("time.msg-time")
    expect(time).to_have_count(1)
    stamp = time.get_attribute("datetime") or ""
    assert page.evaluate("s => new Date(s).getTime()", stamp) == last_answer["timestamp"]
    shown = time.get_attribute("data-label") or ""
    assert re.fullmatch(r"\d{1,2}:\d{2}(\s?[AP]M)?", shown), shown
    # Drawn by CSS: the message's own text is the agent's alone.
    assert answer.evaluate("node => node.textContent").strip().endswith("Call it with a name.")
    assert str(page.evaluate("s => new Date(s).getFullYear()", stamp)) in (
        time.get_attribute("title") or ""
    )

    # A long conversation: several runs, each with the word twice (prompt and answer).
    for run in range(4):
        send(page, f"[[reply: Run {run}.\n\n{FILLER}\n\nThe zebra of run {run}.]]")
        expect(chat.locator(".chat-messages .msg-assistant").last).to_contain_text(
            f"The zebra of run {run}.", timeout=30_000
        )
    chat.locator(".chat-log").click()
    page.keyboard.press("Control+f")
    search = chat.locator(".chat-search-input")
    expect(search).to_be_focused()
    search.fill("ZEBRA")  # case-insensitive
    count = chat.locator(".chat-search-count")
    expect(count).to_have_text("1 of 8")
    seen = []
    for step in range(8):
        hit = page.evaluate(ACTIVE_HIT)
        assert hit is not None
        assert hit["text"].lower() == "zebra" and hit["all"] == 8
        assert hit["inView"], hit
        seen.append(hit["where"])
        if step < 7:
            search.press("Enter")
            expect(count).to_have_text(f"{step + 2} of 8")
    assert len(set(seen)) == 8, seen
    search.press("Enter")  # wraps around
    expect(count).to_have_text("1 of 8")
    search.press("Shift+Enter")
    expect(count).to_have_text("8 of 8")
    assert page.evaluate(ACTIVE_HIT)["where"] == seen[-1]
    chat.get_by_role("button", name="Previous match (Shift+Enter)").click()
    expect(count).to_have_text("7 of 8")
    assert page.evaluate(ACTIVE_HIT)["inView"]
    search.fill("no-such-word-anywhere")
    expect(count).to_have_text("No matches")
    search.press("Escape")
    expect(chat.locator(".chat-search")).to_be_hidden()
    assert page.evaluate("CSS.highlights.has('chat-search')") is False

    # Export: readable Markdown with who said what, when, and the tool call in fences.
    rename_session(page, "Greeter work")
    name, text = export(page)
    assert name == "Greeter work.md"
    assert text.startswith("# Greeter work\n")
    assert "## You · " in text and "## Agent · " in text
    assert "**Tool call: bash**" in text
    assert '```json\n{\n  "command": "echo tool-output-for-export"\n}\n```' in text
    assert "Result:\n\n```\ntool-output-for-export\n```" in text
    assert f"```python\n{CODE}\n```" in text
    assert text.count("The zebra of run") == 8


# -- notifications -----------------------------------------------------------------------------


def test_a_run_ending_in_a_hidden_tab_notifies_and_badges_the_title(
    stack: LiveStack, browser: Browser, project_for_comforts: tuple[User, Project]
) -> None:
    owner, project = project_for_comforts
    page = comfort_page(browser, stack, owner, "notifications")
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first
    title = page.title()
    notices: Any = lambda: page.evaluate("window.__notices")  # noqa: E731

    # Not allowed yet: a hidden run's end badges the title but raises no notification.
    page.evaluate("window.__setHidden(true)")
    send(page, "[[reply: finished before notifications were on]]")
    wait_for(lambda: page.title() == "(1) " + title, timeout=30, message="the title badge")
    assert notices() == []
    page.evaluate("window.__setHidden(false)")
    expect(page).to_have_title(title)

    # Allowed with the "Notify me" control.
    toggle = chat.get_by_role("button", name="Notify me")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")

    # A run ending while the tab is visible: nothing.
    send(page, "[[reply: finished while watched]]")
    expect(chat.locator(".msg-assistant").last).to_have_text(
        "finished while watched", timeout=30_000
    )
    page.wait_for_function("!document.querySelector('.panel-chat .chat.is-busy')")
    assert notices() == [] and page.title() == title

    # Hidden: the run's end raises a notification and a badge; a secret request another.
    page.evaluate("window.__setHidden(true)")
    send(page, "[[reply: finished while away]]")
    wait_for(lambda: len(notices()) == 1, timeout=30, message="a notification")
    assert notices()[0]["title"] == "The agent finished"
    assert "Session" in notices()[0]["body"] and title in notices()[0]["body"]
    assert page.title() == "(1) " + title
    send(page, '[[tool: request_secret {"name": "PAYMENTS_KEY", "reason": "To charge"}]]')
    wait_for(
        lambda: any(n["title"] == "The agent needs a secret" for n in notices()),
        timeout=30,
        message="a notification for the secret",
    )
    secret = next(n for n in notices() if n["title"] == "The agent needs a secret")
    assert "PAYMENTS_KEY" in secret["body"]
    wait_for(lambda: page.title().startswith("(3) "), timeout=30, message="three unseen")

    # Back on the tab: the badge goes.
    page.evaluate("window.__setHidden(false)")
    expect(page).to_have_title(title)

    # Turned off again: hidden runs only badge.
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    before = len(notices())
    page.evaluate("window.__setHidden(true)")
    send(page, "[[reply: finished after turning off]]")
    wait_for(lambda: page.title() == "(1) " + title, timeout=30, message="the title badge")
    assert len(notices()) == before


# -- abuse -------------------------------------------------------------------------------------


HOSTILE = (
    'Look <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
    "</code></pre><b id=stray>bold</b> needle\n\n"
    '```html\n</code></pre><img src=x onerror="window.__pwned=3"><b id=stray2>x</b> needle\n'
    "```\n"
)
HUGE = "\n".join(f"line_{n} = '<i>{n}</i>'" for n in range(4000))
HOSTILE_NAME = "../../etc/passwd <b>x</b>"


def test_hostile_agent_text_stays_inert_in_copy_search_and_export(
    stack: LiveStack, browser: Browser, project_for_comforts: tuple[User, Project]
) -> None:
    owner, project = project_for_comforts
    page = comfort_page(browser, stack, owner, "clipboard-read", "clipboard-write")
    open_workspace(page, stack, project)
    chat = page.locator(".panel-chat").first
    send(page, "[[bash: echo '```'; echo '<img src=x onerror=window.__pwned=4>']]")
    expect(chat.locator(".msg-assistant").last).to_contain_text("Done.", timeout=30_000)
    send_long(page, f"[[reply: {HOSTILE}\n```python\n{HUGE}\n```\nend-of-hostile]]")
    answer = chat.locator(".chat-messages .msg-assistant").last
    expect(answer).to_contain_text("end-of-hostile", timeout=60_000)
    # What would have escaped the code block, or could run: none of it may exist.
    strays = (
        "document.querySelectorAll('.panel-chat [id$=stray2], .panel-chat script, "
        ".panel-chat img[onerror], .chat-messages button:not(.chat-chrome):not(.msg-edit-button)')"
    )

    # Copy: the code block's text, as text (the huge block whole).
    blocks = answer.locator(".code-block")
    expect(blocks).to_have_count(2)
    blocks.nth(0).hover()
    blocks.nth(0).get_by_role("button", name="Copy code").click()
    expect(blocks.nth(0).get_by_role("button", name="Copy code")).to_have_attribute(
        "data-label", "Copied"
    )
    assert clipboard(page) == (
        '</code></pre><img src=x onerror="window.__pwned=3"><b id=stray2>x</b> needle'
    )
    blocks.nth(1).hover()
    blocks.nth(1).get_by_role("button", name="Copy code").click()
    expect(blocks.nth(1).get_by_role("button", name="Copy code")).to_have_attribute(
        "data-label", "Copied"
    )
    assert clipboard(page) == HUGE
    answer.hover()
    answer.get_by_role("button", name="Copy the agent's message (Markdown)").click()
    assert clipboard(page).startswith('Look <img src=x onerror="window.__pwned=1">')

    # Search: hits in the rendered text and code, without touching the DOM.
    expect(answer.locator(".copy-button.is-copied")).to_have_count(0)
    html_before = answer.inner_html()
    chat.get_by_role("button", name="Search").first.click()
    search = chat.locator(".chat-search-input")
    search.fill("needle")
    # The prompt shows the raw text (both needles); the answer rendered them as text once
    # each (the inline <b> is dropped as markup, its text kept).
    expect(chat.locator(".chat-search-count")).to_have_text("1 of 4")
    search.fill("line_3999")
    expect(chat.locator(".chat-search-count")).to_have_text("1 of 2")
    search.press("Enter")
    hit = page.evaluate(ACTIVE_HIT)
    assert hit["inView"], hit
    search.fill("</code></pre>")
    # Twice in the prompt's raw text, once in the code block (as text); the stray closing
    # tags outside a code block are markup the sanitiser drops.
    expect(chat.locator(".chat-search-count")).to_have_text("1 of 3")
    search.press("Escape")
    assert answer.inner_html() == html_before
    assert page.evaluate(f"{strays}.length") == 0

    # Export: a session name with path characters gives a safe file name; the text is the
    # agent's, fenced so nothing in it closes a block early.
    rename_session(page, HOSTILE_NAME)
    name, text = export(page)
    assert name == "etc-passwd -b-x-b.md"
    assert text.startswith("# ../../etc/passwd \\<b\\>x\\</b\\>\n")
    # A tool's output with its own fence cannot close the export's block early.
    assert "\n````\n```\n<img src=x onerror=window.__pwned=4>\n````" in text
    assert HUGE in text
    assert "<script>window.__pwned=2</script>" in text

    assert page.evaluate("window.__pwned") is None
    assert page.evaluate(f"{strays}.length") == 0
