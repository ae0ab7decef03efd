"""Issue 17, acceptance 1 (and the terminal part of 4) in a real browser, on a real sandboxed
local Sprite: a terminal panel runs a shell with the project's secrets, draws colours and
full-screen programs, follows the panel's size, survives a reload; an outsider's socket is
refused with 4404; the platform's services stay as unreachable as from the agent; an idle
open terminal is not presence, while typing counts as activity; the panel passes axe."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from accounts.models import User
from accounts.tokens import create_api_token
from projects.bridge.client import call_bridge
from projects.bridge.terminals import list_terminals
from projects.lifecycle.presence import has_viewers
from projects.models import Project
from projects.preview.links import preview_host
from projects.relay.terminal import FLOW_WINDOW_BYTES
from projects.secrets import set_project_secret
from tests.e2e.helpers import use_scripted_model, wait_for
from tests.e2e.test_accessibility import audit, page_for
from tests.e2e.test_workspace_chat import (
    PASSWORD,
    destroy,
    in_thread,
    logged_in_page,
    open_workspace,
    running_project_for,
    screenshot_dir,
    stack,
)
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["scripted_model_server", "stack"]

SECRET = "terminal-secret-9c41d"
# The panel's theme foreground and xterm's own ANSI red: both come from the <style> rules
# xterm writes, which the strict CSP would drop but for the panel's CSSOM copy of them.
DEFAULT_FOREGROUND = "rgb(229, 231, 235)"
XTERM_RED = "rgb(204, 0, 0)"


@pytest.fixture
def owner_and_project(
    stack: LiveStack, scripted_model_server: ScriptedModelServer
) -> Iterator[tuple[User, Project]]:
    owner = User.objects.create_user("terminal-owner@example.com", PASSWORD)
    use_scripted_model(owner, scripted_model_server.base_url)
    project = running_project_for(owner, "Shell")
    set_project_secret(project, "MY_SECRET", SECRET)

    def has_secret() -> bool:
        answer = call_bridge(
            project, "POST", "/starter/exec", json_body={"command": 'printf %s "$MY_SECRET"'}
        ).body
        return bool(answer) and answer["stdout"] != ""

    wait_for(has_secret, timeout=30, message="the secret reached the bridge")
    yield owner, project
    destroy(project)


def type_line(page: Page, terminal: Locator, line: str) -> None:
    terminal.locator(".xterm-helper-textarea").focus()
    page.keyboard.type(line)
    page.keyboard.press("Enter")


def screen_text(terminal: Locator) -> str:
    return terminal.locator(".xterm-rows").inner_text()


def reported_size(page: Page, terminal: Locator, marker: str) -> tuple[int, int]:
    # The typed line shows "$(stty size)", never digits, so only the output matches.
    type_line(page, terminal, f"echo {marker}=$(stty size)")
    pattern = re.compile(rf"{marker}=(\d+) (\d+)")
    wait_for(lambda: pattern.search(screen_text(terminal)), timeout=10, message=marker)
    found = pattern.search(screen_text(terminal))
    assert found is not None
    return int(found.group(1)), int(found.group(2))


def bytes_within(ws: ClientConnection, seconds: float) -> int:
    """Output bytes that arrive within ``seconds``."""
    received = 0
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            message = ws.recv(timeout=remaining)
        except TimeoutError:
            break
        if isinstance(message, bytes):
            received += len(message)
    return received


def test_terminal_shell_secrets_top_resize_reload_outsider_and_sandbox(
    stack: LiveStack,
    browser: Browser,
    owner_and_project: tuple[User, Project],
    tmp_path: Path,
) -> None:
    owner, project = owner_and_project
    shots = screenshot_dir(tmp_path)
    page = logged_in_page(browser, stack, owner)
    page.set_viewport_size({"width": 1366, "height": 800})
    open_workspace(page, stack, project)

    page.get_by_role("button", name="New terminal").click()
    terminal = page.locator(".panel-terminal")
    expect(terminal.locator(".xterm-rows")).to_contain_text("$", timeout=30_000)

    # The project's secret is in the shell's environment, the bridge's token is not.
    type_line(page, terminal, 'echo "S=$MY_SECRET" "T=${STARTER_BRIDGE_TOKEN:-none}"')
    expect(terminal.locator(".xterm-rows")).to_contain_text(f"S={SECRET} T=none")

    # Colours: xterm's styles apply under the dashboard's strict CSP.
    type_line(page, terminal, r"printf '\e[31mRED%s\e[0m\n' -ALERT")
    red = terminal.locator(".xterm-rows span", has_text="RED-ALERT").first
    expect(red).to_be_visible()
    assert red.evaluate("e => getComputedStyle(e).color") == XTERM_RED
    rows = terminal.locator(".xterm-rows")
    assert rows.evaluate("e => getComputedStyle(e).color") == DEFAULT_FOREGROUND

    # A full-screen program, then back to the shell.
    type_line(page, terminal, "top")
    expect(terminal.locator(".xterm-rows")).to_contain_text("load average", timeout=10_000)
    page.keyboard.press("q")
    type_line(page, terminal, "echo after-top-$((20+22))")
    expect(terminal.locator(".xterm-rows")).to_contain_text("after-top-42")

    # The shell follows the panel's size.
    rows_before, cols_before = reported_size(page, terminal, "SZA")
    page.set_viewport_size({"width": 1000, "height": 560})
    wait_for(
        lambda: terminal.locator(".xterm-rows > div").count() < rows_before,
        timeout=10,
        message="the terminal refits",
    )
    rows_after, cols_after = reported_size(page, terminal, "SZB")
    assert (rows_after, cols_after) != (rows_before, cols_before)
    assert rows_after == terminal.locator(".xterm-rows > div").count()
    page.screenshot(path=str(shots / "terminal.png"))

    # The platform's services are as unreachable as from the agent.
    for port, name in ((5432, "PG"), (6379, "REDIS")):
        type_line(
            page,
            terminal,
            f"timeout 3 bash -c 'echo > /dev/tcp/127.0.0.1/{port}' 2>/dev/null"
            f' && echo "{name}""=open" || echo "{name}""=closed"',
        )
        expect(terminal.locator(".xterm-rows")).to_contain_text(f"{name}=closed", timeout=10_000)
    assert "PG=open" not in screen_text(terminal) and "REDIS=open" not in screen_text(terminal)

    # A reload reattaches to the same shell, with its recent output and its variables.
    type_line(page, terminal, "KEPT=kept-$((6*7))")
    [listed] = in_thread(list_terminals, project)
    page.reload()
    terminal = page.locator(".panel-terminal")
    expect(terminal.locator(".xterm-rows")).to_contain_text("after-top-42", timeout=30_000)
    type_line(page, terminal, "echo V=$KEPT")
    expect(terminal.locator(".xterm-rows")).to_contain_text("V=kept-42")
    assert [item["id"] for item in in_thread(list_terminals, project)] == [listed["id"]]

    # An outsider, from a page of the dashboard's origin, gets 4404 for that socket.
    outsider = User.objects.create_user("terminal-outsider@example.com", PASSWORD)
    other = logged_in_page(browser, stack, outsider)
    other.goto(stack.url + "/")
    socket_url = (
        stack.url.replace("http://", "ws://")
        + f"/ws/projects/{project.public_id}/terminals/{listed['id']}/"
    )
    code = other.evaluate(
        """url => new Promise(resolve => {
             const socket = new WebSocket(url);
             socket.onopen = () => socket.send(new TextEncoder().encode("echo pwned\\r"));
             socket.onclose = event => resolve(event.code);
           })""",
        socket_url,
    )
    assert code == 4404
    # So does the REST API (404), and the owner's token sees the terminal.
    _, outsider_token = in_thread(create_api_token, outsider, "outsider")
    api = f"{stack.url}/api/v1/projects/{project.public_id}/terminals"
    refused = other.request.get(api, headers={"Authorization": f"Bearer {outsider_token}"})
    assert refused.status == 404
    _, owner_token = in_thread(create_api_token, owner, "owner")
    mine = other.request.get(api, headers={"Authorization": f"Bearer {owner_token}"})
    assert mine.status == 200 and mine.json()["terminals"][0]["id"] == listed["id"]
    other.context.close()

    # The panel passes axe (a context that lets axe's inline script in; a second terminal).
    audited = page_for(browser, stack, owner)
    open_workspace(audited, stack, project)
    audited.get_by_role("button", name="New terminal").click()
    second = audited.locator(".panel-terminal")
    expect(second.locator(".xterm-rows")).to_contain_text("$", timeout=30_000)
    type_line(audited, second, r"printf '\e[32mgreen%s\e[0m\n' -light; ls --color=always /")
    expect(second.locator(".xterm-rows")).to_contain_text("green-light", timeout=30_000)
    assert audit(audited, "terminal panel") == []
    # Three times the flow window of output reaches the page: the panel acknowledges it.
    type_line(audited, second, "head -c 3000000 /dev/zero | tr '\\0' y; echo; echo flood-$((2*4))")
    expect(second.locator(".xterm-rows")).to_contain_text("flood-8", timeout=30_000)
    audited.context.close()

    # Idle sleep: with no page open, an open terminal socket is not presence, and only
    # typing (and the output it brings) counts as activity.
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    page.context.close()
    wait_for(lambda: not in_thread(has_viewers, project.public_id), timeout=10)
    long_ago = timezone.now() - datetime.timedelta(hours=1)

    def last_activity() -> datetime.datetime:
        return Project.objects.get(pk=project.pk).last_activity_at

    with connect(socket_url, additional_headers={"Authorization": f"Bearer {owner_token}"}) as ws:
        first = ws.recv(timeout=10)  # the recent output: attached
        assert isinstance(first, bytes)
        in_thread(lambda: Project.objects.filter(pk=project.pk).update(last_activity_at=long_ago))
        time.sleep(2)
        assert not in_thread(has_viewers, project.public_id)
        assert in_thread(last_activity) == long_ago
        ws.send(json.dumps({"type": "input", "data": "echo typed\r"}))
        wait_for(lambda: in_thread(last_activity) > long_ago, timeout=10, message="activity")

    # Flow control: a client that acknowledges nothing gets at most the window (daphne would
    # queue the rest for it without limit); an ack lets more through.
    token_header = {"Authorization": f"Bearer {owner_token}"}
    with connect(socket_url, additional_headers=token_header, max_size=None) as ws:
        flood = "head -c 6000000 /dev/zero | tr '\\0' y; echo\r"
        ws.send(json.dumps({"type": "input", "data": flood}))
        received = bytes_within(ws, seconds=3)
        assert FLOW_WINDOW_BYTES <= received <= FLOW_WINDOW_BYTES + 400 * 1024, received
        assert bytes_within(ws, seconds=1) == 0  # stalled, not buffered
        ws.send(json.dumps({"type": "ack", "bytes": received}))
        try:
            assert bytes_within(ws, seconds=3) > 0
        except ConnectionClosed:
            assert ws.close_code == 4408  # or the bridge dropped a reader that fell behind
    with connect(socket_url, additional_headers=token_header) as ws:
        ws.send(json.dumps({"type": "ack", "bytes": 10**12}))
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
        assert ws.close_code == 4400

    # Abuse of the socket: a huge input frame ends that socket (the shell lives on); an id
    # that is not a terminal's is a 4404 before any bridge is asked.
    with connect(socket_url, additional_headers=token_header, max_size=None) as ws:
        ws.send(b"x" * (1024 * 1024))
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
        assert ws.close_code == 4413
    for bad in ("..", "ABCDEF0123456789", "0123456789abcdef"):
        bad_url = socket_url.replace(listed["id"], bad)
        with connect(bad_url, additional_headers=token_header) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
            assert ws.close_code == 4404, bad
    # Neither the bridge's terminal path nor the relay's is reachable from a preview host,
    # and a page of the preview origin cannot use the owner's session on the relay.
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    port = stack.url.rsplit(":", 1)[1]
    preview = f"{preview_host(project.public_id)}:{port}"
    for path in (
        f"/starter/terminals/{listed['id']}/ws",
        f"/ws/projects/{project.public_id}/terminals/{listed['id']}/",
    ):
        answer = httpx.get(stack.url + path, headers={**handshake, "Host": preview, **token_header})
        assert answer.status_code != 101, path
    answer = httpx.get(
        urlparse(socket_url)._replace(scheme="http").geturl(),
        headers={**handshake, "Origin": f"http://{preview}", "Cookie": f"sessionid={session}"},
    )
    assert answer.status_code == 403
    assert listed["id"] in [item["id"] for item in in_thread(list_terminals, project)]
