"""Issue 14 acceptance: a `/` command from a prompt template in the Sprite expands; an image
pasted into the composer reaches the model as an image part. Plus their abuse cases: a
command description with markup renders as text, an SVG is refused.

Real daphne + Celery (live stack), PostgreSQL, Redis, the local Sprite backend with the real
bridge and pi, Debian's chromium; only the model is scripted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.helpers import wait_for
from tests.e2e.test_accessibility import page_for
from tests.e2e.test_workspace_chat import (
    in_thread,
    logged_in_page,
    open_workspace,
    owner_with_running_project,
    panel_session_ids,
    screenshot_dir,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.images import SVG_WITH_SCRIPT, b64, png_bytes
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
GREET = """---
description: Greet a sailor <img src=x onerror="window.__pwned=1"><b>loudly</b>
---
Say hello to ${1:-world} warmly, in the voice of a lighthouse keeper.
"""
PASTE = """([data, type, name]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type}));
  const box = document.querySelector(".panel-chat .composer-input");
  box.focus();
  const paste = {clipboardData: transfer, bubbles: true, cancelable: true};
  box.dispatchEvent(new ClipboardEvent("paste", paste));
}"""


def write_into_sprite(project: Project, path: str, data: bytes) -> None:
    project.refresh_from_db()
    in_thread(run_sync, backend_for(project).write_file(project.sprite_name, path, data))


def read_from_sprite(project: Project, path: str) -> bytes:
    project.refresh_from_db()
    return in_thread(run_sync, backend_for(project).read_file(project.sprite_name, path))


def user_content_with(server: ScriptedModelServer, marker: str) -> Any:
    def has_marker(body: dict[str, Any]) -> bool:
        users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
        return bool(users) and marker in json.dumps(users[-1].get("content"))

    body = server.wait_for_request(has_marker, timeout=60)
    return [m for m in body["messages"] if m.get("role") == "user"][-1]["content"]


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project("slash@example.com", "Slash", scripted_model_server) as found:
        yield found


def page_note(page: Page, text: str) -> Any:
    return page.locator(".chat-note").filter(has_text=text)


def composer(page: Page) -> Any:
    return page.locator(".panel-chat .composer-input").first


def test_a_slash_command_from_a_prompt_template_in_the_sprite_expands(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    # Written while pi already runs: the list reads it again when it opens.
    write_into_sprite(project, ".pi/agent/prompts/greet.md", GREET.encode())
    # bypass_csp: axe is injected as an inline script. It also means the policy could not
    # save a description that became markup: only rendering it as text does.
    page = page_for(browser, stack, owner)
    open_workspace(page, stack, project)
    box = composer(page)

    box.click()
    box.press_sequentially("/gr")
    menu = page.get_by_role("listbox", name="Commands: prompt templates and skills")
    option = menu.get_by_role("option").filter(has_text="/greet")
    expect(option).to_be_visible(timeout=30_000)
    expect(box).to_have_attribute("aria-activedescendant", option.get_attribute("id") or "")
    expect(option).to_have_attribute("aria-selected", "true")
    # The description is the file's text, markup and all, shown as text.
    expect(option.locator(".slash-description")).to_have_text(
        'Greet a sailor <img src=x onerror="window.__pwned=1"><b>loudly</b>'
    )
    assert menu.locator("img, b").count() == 0
    page.screenshot(path=str(screenshot_dir(tmp_path) / "slash-menu.png"))
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => (await axe.run(".panel-chat .composer",
          {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}))
          .violations.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "))"""
    )
    assert violations == []

    # Escape closes; typing the command again and Tab picks it.
    box.press("Escape")
    expect(menu).to_be_hidden()
    box.fill("")
    box.press_sequentially("/gre")
    expect(option).to_be_visible()
    box.press("Tab")
    expect(menu).to_be_hidden()
    expect(box).to_have_value("/greet ")
    box.press_sequentially("Ahab")
    box.press("Enter")

    content = user_content_with(scripted_model_server, "lighthouse keeper")
    assert "Say hello to Ahab warmly, in the voice of a lighthouse keeper." in json.dumps(content)
    expect(page.locator(".msg-assistant").last).to_contain_text("Scripted answer", timeout=30_000)


def test_an_image_pasted_into_the_composer_reaches_the_model_as_an_image_part(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    image = b64(png_bytes(12, 12, (10, 120, 240)))
    text_only = page_note(page := logged_in_page(browser, stack, owner), "does not take images")
    open_workspace(page, stack, project)
    # The user's custom provider declares text input only: the page says pi would send a
    # placeholder in the image's place.
    page.evaluate(PASTE, [image, "image/png", "blue.png"])
    expect(text_only).to_have_count(1)
    page.get_by_role("button", name="Remove image blue.png").click()
    expect(page.locator(".composer-attachment")).to_have_count(0)

    # Declare image input, then start a session (pi reads models.json when it starts).
    models = json.loads(read_from_sprite(project, ".pi/agent/models.json"))
    for provider in models["providers"].values():
        for model in provider["models"]:
            model["input"] = ["text", "image"]
    write_into_sprite(project, ".pi/agent/models.json", json.dumps(models).encode())
    before = panel_session_ids(page)[0]
    page.get_by_role("button", name="New session").first.click()
    wait_for(lambda: panel_session_ids(page)[0] not in (None, before), 60, message="a new session")

    page.evaluate(PASTE, [image, "image/png", "blue.png"])
    thumbnail = page.get_by_role("img", name="Image to send: blue.png")
    expect(thumbnail).to_be_visible()
    page.wait_for_timeout(1000)
    expect(text_only).to_have_count(0)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "image-attached.png"))
    # An SVG is refused in the composer (the server would answer 415).
    page.evaluate(PASTE, [b64(SVG_WITH_SCRIPT), "image/svg+xml", "evil.svg"])
    expect(page.locator(".chat-note-error").last).to_contain_text("evil.svg cannot be sent")
    assert page.locator(".composer-attachment").count() == 1

    box = composer(page)
    box.fill("what colour is this? ref-4411")
    box.press("Enter")
    content = user_content_with(scripted_model_server, "ref-4411")
    urls = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    assert urls == [f"data:image/png;base64,{image}"]
    expect(thumbnail).to_be_hidden()

    # The transcript shows it: from the page's own copy now, from the history after a reload.
    sent = page.locator(".msg-user").filter(has_text="ref-4411").locator("img.msg-image")
    expect(sent).to_have_attribute("src", f"data:image/png;base64,{image}", timeout=30_000)
    expect(page.locator(".msg-assistant").last).to_contain_text("Scripted answer", timeout=30_000)
    page.screenshot(path=str(screenshot_dir(tmp_path) / "image-in-transcript.png"))
    page.reload()
    sent = page.locator(".msg-user").filter(has_text="ref-4411").locator("img.msg-image")
    expect(sent).to_have_attribute("src", f"data:image/png;base64,{image}", timeout=60_000)
    assert page.evaluate("typeof window.__pwned") == "undefined"
