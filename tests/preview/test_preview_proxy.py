"""The preview origin: a signed link trades for a host-only cookie; the app is served through
the project's bridge, websockets included; everyone else gets a 403 (or a 404)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import httpx
import pytest
from django.core import signing
from django.http import Http404
from websockets.sync.client import connect

from accounts.models import User
from projects.models import Project, Status
from projects.preview_links import (
    COOKIE_NAME,
    preview_cookie_value,
    preview_host,
    preview_link,
)
from tests.preview.sample_app import SampleApp
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)


def _get(
    stack: LiveStack, url_or_path: str, host: str, cookie: str | None = None
) -> httpx.Response:
    """A request to the live stack with the preview Host (no DNS for *.localhost needed)."""
    parsed = urlparse(url_or_path)
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    headers = {"Host": host}
    if cookie:
        headers["Cookie"] = cookie
    return httpx.get(stack.url + target, headers=headers, timeout=30, follow_redirects=False)


def _host(stack: LiveStack, project: Project) -> str:
    return f"{preview_host(project.public_id)}:{urlparse(stack.url).port}"


def _cookie_from_link(stack: LiveStack, project: Project, owner: User) -> str:
    link = preview_link(owner, project, dashboard_url=stack.url)
    response = _get(stack, link, _host(stack, project))
    assert response.status_code == 302, response.text
    return response.headers["set-cookie"].split(";", 1)[0]


def test_signed_link_sets_a_host_only_cookie_and_the_app_is_served(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    link = preview_link(owner, project, dashboard_url=stack.url)
    assert urlparse(link).hostname == preview_host(project.public_id)
    response = _get(stack, link, _host(stack, project))
    assert response.status_code == 302
    assert response.headers["location"] == "/"
    attributes = [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
    assert attributes[0].startswith(COOKIE_NAME + "=")
    assert {"httponly", "secure", "samesite=none", "partitioned", "path=/"} <= set(attributes)
    assert not any(part.startswith("domain") for part in attributes)

    cookie = response.headers["set-cookie"].split(";", 1)[0]
    page = _get(stack, "/", _host(stack, project), cookie=cookie)
    assert page.status_code == 200
    assert "Hello from the agent's app" in page.text
    seen = _get(stack, "/headers", _host(stack, project), cookie=cookie).json()
    assert COOKIE_NAME not in seen.get("cookie", "")
    assert "x-starter-token" not in seen
    assert project.bridge_token not in str(seen)


def test_without_a_cookie_the_preview_is_a_403_page(
    stack: LiveStack, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    response = _get(stack, "/", _host(stack, project))
    assert response.status_code == 403
    assert "open it from the project" in response.text
    assert "Hello from the agent's app" not in response.text


def test_another_person_can_neither_get_a_link_nor_use_a_cookie(
    stack: LiveStack, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    outsider = User.objects.create_user("preview-outsider@example.com", "pw-long-enough-1")
    with pytest.raises(Http404):
        preview_link(outsider, project)
    # Even a correctly signed cookie naming the outsider does not open someone else's project.
    forged = f"{COOKIE_NAME}={preview_cookie_value(outsider.pk, project.public_id)}"
    assert _get(stack, "/", _host(stack, project), cookie=forged).status_code == 404
    # A link for the outsider's own project does not open this one.
    own = Project.objects.create(owner=outsider, name="Own", status=Status.SLEEPING)
    link = preview_link(outsider, own, dashboard_url=stack.url)
    assert _get(stack, link, _host(stack, project)).status_code == 403


def test_an_expired_link_is_refused(
    stack: LiveStack,
    owner: User,
    app_project: tuple[Project, SampleApp],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, _ = app_project
    issued = time.time() - 3600
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    link = preview_link(owner, project, dashboard_url=stack.url)
    monkeypatch.undo()
    response = _get(stack, link, _host(stack, project))
    assert response.status_code == 403
    assert "expired" in response.text
    assert "set-cookie" not in response.headers


def test_a_websocket_reaches_the_app_through_the_preview(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    cookie = _cookie_from_link(stack, project, owner)
    port = urlparse(stack.url).port
    assert port is not None
    url = f"ws://{_host(stack, project)}/live"
    with connect(
        url,
        sock=socket.create_connection(("127.0.0.1", port)),
        additional_headers={"Cookie": cookie},
        open_timeout=15,
    ) as websocket:
        websocket.send("hello")
        assert websocket.recv(timeout=10) == "echo: hello"


def test_a_websocket_without_the_cookie_is_refused(
    stack: LiveStack, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    port = urlparse(stack.url).port
    assert port is not None
    with pytest.raises(Exception, match="403"):
        connect(
            f"ws://{_host(stack, project)}/live",
            sock=socket.create_connection(("127.0.0.1", port)),
            open_timeout=15,
        )
