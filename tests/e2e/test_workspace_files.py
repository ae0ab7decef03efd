"""Issue 17, acceptance 2 (and the files part of 4) in a real browser: upload a file by
drag-and-drop onto the Files panel, see it in the tree, open it in a viewer, edit and save it
(a change made meanwhile is a conflict offering Reload and Overwrite), download it (same
bytes), download the home as a zip, delete it after a confirmation; a link in the home that
points outside it is shown as a link and never followed. axe checks the panel and the editor."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.e2e.test_accessibility import audit, page_for
from tests.e2e.test_workspace_chat import (
    in_thread,
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

DROPPED = "dropped.txt"
DROP_TEXT = "first line from the drop\n<script>alert('not run')</script>\n"

DROP = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: "text/plain"}));
  const tree = document.querySelector(".panel-files .files-tree");
  for (const type of ["dragenter", "dragover", "drop"]) {
    tree.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data}));
  }
}"""


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    with owner_with_running_project(
        "fiona@example.com", "Files", scripted_model_server
    ) as owner_and_project:
        yield owner_and_project


def home_of(stack: LiveStack, project: Project) -> Path:
    return stack.data_dir / "sprites" / project.sprite_name / "home"


def sprite(project: Project, command: list[str]) -> None:
    result = in_thread(run_sync, backend_for(project).exec(project.sprite_name, command))
    assert result.exit_code == 0, result


def downloaded(page: Page, trigger: str) -> bytes:
    with page.expect_download() as download:
        page.locator(trigger).first.click()
    path = download.value.path()
    assert path is not None
    return Path(path).read_bytes()


def test_upload_open_edit_download_zip_delete_and_links_are_never_followed(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    home = home_of(stack, project)
    # The agent (or anyone in the Sprite) plants a link out of the home.
    sprite(project, ["ln", "-s", "/etc/passwd", "outside-link"])
    page = page_for(browser, stack, owner)
    open_workspace(page, stack, project)
    page.evaluate("window.starterWorkspace.openPanel('files', {})")
    panel = page.locator(".panel-files")
    expect(panel.locator(".files-tree")).to_be_visible()

    # The link is shown as a link, with its target as text, and offers no download.
    link = panel.locator('.files-item[data-path="outside-link"]')
    expect(link).to_have_attribute("data-kind", "link")
    expect(link.locator(".files-link-target")).to_have_text("→ /etc/passwd")
    expect(link.get_by_role("link", name="Download outside-link")).to_have_count(0)
    refused = page.request.get(
        f"{stack.url}/p/{project.public_id}/workspace-files/download/?path=outside-link"
    )
    assert refused.status == 400 and b"root:" not in refused.body()

    # Drag-and-drop upload onto the tree.
    page.evaluate(DROP, [DROPPED, DROP_TEXT])
    item = panel.locator(f'.files-item[data-path="{DROPPED}"]')
    expect(item).to_be_visible(timeout=15_000)
    expect(panel.locator(".files-status")).to_have_text(f"Uploaded {DROPPED}.")
    assert (home / DROPPED).read_text() == DROP_TEXT

    # Open it in a viewer panel (the workspace's own file viewer).
    item.get_by_role("button", name=f"Open {DROPPED}").click()
    viewer = page.locator(".panel-asset")
    expect(viewer.locator(".panel-title")).to_have_text(DROPPED)
    expect(viewer.locator(".panel-body")).to_contain_text("first line from the drop")
    page.screenshot(path=str(shots / "files-panel.png"))
    # The viewers are checked by their own tests; axe looks at the Files panels here.
    viewer.get_by_role("button", name="Close panel").click()

    # Edit and save it.
    item.get_by_role("button", name=f"Edit {DROPPED}").click()
    editor = page.locator(".panel-editor")
    area = editor.get_by_role("textbox", name=f"Contents of {DROPPED}")
    expect(area).to_have_value(DROP_TEXT)
    problems = audit(page, "files panel and editor")
    area.fill("edited in the browser\n")
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator(".editor-status")).to_have_text(f"Saved {DROPPED}.")
    assert (home / DROPPED).read_text() == "edited in the browser\n"

    # A change made meanwhile (by the agent, say) is a conflict: nothing is overwritten
    # until the person says so.
    in_thread(run_sync, backend_for(project).write_file(project.sprite_name, DROPPED, b"agent's\n"))
    area.fill("mine again\n")
    editor.get_by_role("button", name="Save").click()
    conflict = editor.locator(".editor-conflict")
    expect(conflict).to_contain_text("changed since it was opened")
    expect(conflict.get_by_role("button", name="Reload")).to_be_visible()
    assert (home / DROPPED).read_text() == "agent's\n"
    problems += audit(page, "editor with a conflict")
    page.screenshot(path=str(shots / "files-conflict.png"))
    conflict.get_by_role("button", name="Overwrite").click()
    expect(editor.locator(".editor-status")).to_have_text(f"Saved {DROPPED}.")
    assert (home / DROPPED).read_text() == "mine again\n"

    # Download it: the same bytes.
    data = downloaded(page, f'.panel-files [aria-label="Download {DROPPED}"]')
    assert (
        hashlib.sha256(data).hexdigest()
        == hashlib.sha256((home / DROPPED).read_bytes()).hexdigest()
    )

    # The home as a zip: valid, with the file, and the link stored as a link.
    archive = downloaded(page, ".panel-files .files-toolbar >> text=Download home (.zip)")
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert zipped.testzip() is None
        assert zipped.read(DROPPED) == b"mine again\n"
        info = zipped.getinfo("outside-link")
        assert stat.S_ISLNK(info.external_attr >> 16)
        assert zipped.read("outside-link") == b"/etc/passwd"

    # Hidden files appear with the toggle.
    sprite(project, ["bash", "-c", "echo x > .dotfile"])
    panel.get_by_role("checkbox", name="Hidden files").check()
    expect(panel.locator('.files-item[data-path=".dotfile"]')).to_be_visible()

    # Delete it, after a confirmation.
    item.get_by_role("button", name=f"Delete {DROPPED}").click()
    confirm = panel.get_by_role("alertdialog", name="Confirm deletion")
    expect(confirm).to_contain_text(f"Delete {DROPPED}?")
    problems += audit(page, "delete confirmation")
    confirm.get_by_role("button", name="Delete").click()
    expect(panel.locator(f'.files-item[data-path="{DROPPED}"]')).to_have_count(0)
    assert not (home / DROPPED).exists()
    # Deleting the link removes the link only.
    link.get_by_role("button", name="Delete outside-link").click()
    panel.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(panel.locator('.files-item[data-path="outside-link"]')).to_have_count(0)
    assert Path("/etc/passwd").exists()
    assert problems == [], "\n".join(problems)
