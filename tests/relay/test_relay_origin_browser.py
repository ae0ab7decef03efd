"""In chromium, with the person's session cookie in the browser: a page of another origin (a
server on another port of the dashboard's host, as an agent's app on 127.0.0.1:3000 was)
cannot open the dashboard's websockets; the dashboard's own page can."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from projects.models import Project, Status
from tests.support.browser import chromium, session_cookie
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)

OPEN_SOCKET = """(url) => new Promise((resolve) => {
    const events = [];
    const socket = new WebSocket(url);
    socket.onopen = () => {
        events.push('open');
        socket.send(JSON.stringify({type: 'subscribe', after: null}));
    };
    socket.onmessage = (event) => {
        // Who else is watching may come first: the answer under test is the relay's frame.
        if (JSON.parse(event.data).kind === 'presence') return;
        events.push('message ' + event.data);
        socket.close();
    };
    socket.onerror = () => events.push('error');
    socket.onclose = (event) => { events.push('close ' + event.code); resolve(events); };
    setTimeout(() => resolve(events.concat(['timeout'])), 15000);
})"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Another origin</title><p>An app on another port</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_origin() -> Iterator[str]:
    """A page server on another port of 127.0.0.1, stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _browse(dashboard_url: str, session: str, page_url: str, socket_url: str) -> list[str]:
    """On its own thread: Playwright's sync API keeps an event loop in its thread."""
    with chromium() as browser:
        context = browser.new_context()
        context.add_cookies([session_cookie(dashboard_url, session)])
        page = context.new_page()
        page.goto(page_url)
        events: list[str] = page.evaluate(OPEN_SOCKET, socket_url)
        context.close()
        return events


def _events_from(stack: LiveStack, owner: User, page_url: str) -> list[str]:
    project = Project.objects.create(
        owner=owner, name="Watched", status=Status.SLEEPING, sprite_name="starter-not-here"
    )
    client = Client()
    client.force_login(owner)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    socket_url = stack.url.replace("http://", "ws://") + f"/ws/projects/{project.public_id}/"
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_browse, stack.url, session, page_url, socket_url).result(timeout=120)


def test_a_page_on_another_port_cannot_open_the_dashboards_websocket(
    stack: LiveStack, owner: User, other_origin: str
) -> None:
    events = _events_from(stack, owner, other_origin + "/")
    # Refused at the handshake: never open, never a message; the page learns nothing.
    assert events == ["error", "close 1006"], events


def test_the_dashboards_own_page_opens_it_with_the_session(stack: LiveStack, owner: User) -> None:
    events = _events_from(stack, owner, stack.url + "/")
    assert events[0] == "open", events
    assert "sprite_not_running" in events[1], events
