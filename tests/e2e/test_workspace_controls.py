"""The workspace's controls in a real browser: the command palette, the model picker
switching mid-session, `notify` toasts, the agent's secret request answered inline (the
value never reaches the transcript), checkpoints, the remembered layout, and the home
screen's live badges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from accounts.models import User
from projects.models import Project, ProjectSecret
from tests.e2e.helpers import wait_for
from tests.e2e.test_workspace_chat import (
    bridge_messages,
    logged_in_page,
    open_workspace,
    owner_with_running_project,
    panel_session_ids,
    screenshot_dir,
    send,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

SECRET_VALUE = "wx_live_value_typed_by_the_person_6083"


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "quinn@example.com", "Forecasts", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def test_palette_picker_toasts_secret_request_checkpoints_layout_and_home_badges(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    page = logged_in_page(browser, stack, owner)
    page.on("dialog", lambda dialog: dialog.accept())  # the checkpoint restore confirmation
    open_workspace(page, stack, project)

    # Palette: Ctrl+K, fuzzy search, arrows, Enter, Esc.
    page.keyboard.press("Control+k")
    palette = page.locator("#palette")
    expect(palette).to_be_visible()
    page.keyboard.type("aprev")  # fuzzy: a…p…r…e…v in "App preview"
    expect(palette.locator("[role=option][aria-selected=true]")).to_contain_text("App preview")
    page.keyboard.press("Enter")
    expect(palette).to_be_hidden()
    expect(page.locator(".panel-preview")).to_have_count(1)
    page.keyboard.press("Control+k")
    page.keyboard.type("forecasts")
    options = palette.locator("[role=option]")
    expect(options.first).to_contain_text("Forecasts")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    page.screenshot(path=str(shots / "palette.png"))
    page.keyboard.press("Escape")
    expect(palette).to_be_hidden()

    # Model picker: switch the focused chat's model mid-session.
    page.locator(".panel-chat .composer-input").first.click()
    expect(page.locator("#model-picker")).to_be_visible()
    expect(page.locator("#picker-model")).to_have_value("fake-model")
    page.select_option("#picker-model", "fake-model-2")
    expect(page.locator("#toasts")).to_contain_text("fake/fake-model-2")
    send(page, "[[reply: answered-by-the-second-model]]")
    expect(page.locator(".panel-chat .msg-assistant").last).to_have_text(
        "answered-by-the-second-model", timeout=30_000
    )
    assert scripted_model_server.requests[-1]["model"] == "fake-model-2"

    # notify_dashboard becomes a toast.
    send(page, '[[tool: notify_dashboard {"message": "Forecast page is live", "type": "success"}]]')
    expect(page.locator("#toasts .toast-success", has_text="Forecast page is live")).to_be_visible(
        timeout=30_000
    )

    # request_secret: an inline form; the value goes to the project's secrets only.
    send(
        page,
        '[[tool: request_secret {"name": "WEATHER_API_KEY", "reason": "To fetch the forecasts"}]]',
    )
    form = page.locator(".secret-form[data-secret-name=WEATHER_API_KEY]")
    expect(form).to_contain_text("To fetch the forecasts", timeout=30_000)
    form.locator("input[type=password]").fill(SECRET_VALUE)
    page.screenshot(path=str(shots / "secret-request.png"))
    form.get_by_role("button", name="Save secret").click()
    expect(form).to_contain_text("WEATHER_API_KEY saved")
    assert ProjectSecret.objects.get(project=project, name="WEATHER_API_KEY").value == SECRET_VALUE
    chat = page.locator(".panel-chat").first
    expect(chat.locator(".msg-user").last).to_contain_text(
        "I saved the secret WEATHER_API_KEY", timeout=60_000
    )
    expect(chat.locator(".msg-assistant").last).to_contain_text(
        "Scripted answer: I saved", timeout=60_000
    )
    session_id = panel_session_ids(page)[0]
    assert SECRET_VALUE not in str(bridge_messages(project, session_id))
    assert SECRET_VALUE not in page.content()

    # Checkpoints: create one, then restore it (the chat rebuilds from the bridge).
    page.get_by_role("button", name="Checkpoints").click()
    dialog = page.locator("#checkpoints-dialog")
    dialog.get_by_label("Save the machine's files now").fill("before the redesign")
    dialog.get_by_role("button", name="Create checkpoint").click()
    expect(dialog).to_contain_text("before the redesign", timeout=60_000)
    dialog.get_by_role("button", name="Restore checkpoint").first.click()
    expect(dialog).to_contain_text("Restored checkpoint", timeout=60_000)
    dialog.get_by_role("button", name="Close").click()

    # The arrangement survives a reload.
    page.reload()
    open_workspace(page, stack, project)
    expect(page.locator(".panel-preview")).to_have_count(1)
    expect(page.locator(".panel-chat")).to_have_count(1)

    # Home: putting the project to sleep from the palette updates its badge live.
    page.goto(stack.url + "/")
    badge = page.locator(f"[data-status-badge='{project.public_id}']")
    expect(badge).to_have_text("Running")
    wait_for(
        lambda: page.evaluate("window.starterHome.socket.isOpen()"),
        timeout=10,
        message="the home socket",
    )
    page.keyboard.press("Control+k")
    page.keyboard.type("sleep forecasts")
    # The home page's palette loads its commands when opened: Enter only once the command
    # is the selected option (pressed earlier, it selected nothing now and then).
    selected = page.locator("#palette [role=option][aria-selected=true]")
    expect(selected).to_contain_text("Sleep")
    page.keyboard.press("Enter")
    expect(badge).to_have_text("Sleeping", timeout=60_000)
    page.screenshot(path=str(shots / "home-live-badge.png"))
