"""The preview origin: a signed link trades for a host-only cookie; the app is served through
the project's bridge, websockets included; everyone else gets a 403 (or a 404). The link's
token travels in the fragment and a POST, never in a request line or a log; the app's cookies
stay on its own host."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import httpx
import pytest
from django.core import signing
from django.http import Http404
from websockets.sync.client import connect
from websockets.typing import Origin

from accounts.models import User
from organisations.members import remove_member
from organisations.models import Membership
from organisations.roles import Role
from projects.models import Project, Status
from projects.preview.links import (
    COOKIE_NAME,
    LINK_PATH,
    LINK_SCRIPT_PATH,
    preview_cookie_value,
    preview_host,
    preview_link,
)
from projects.preview.proxy import ENDPOINT_CACHE_SECONDS
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


def _open_link(stack: LiveStack, link: str, host: str, origin: str | None = None) -> httpx.Response:
    """What the link page's script does: post the token from the fragment to its own origin."""
    parsed = urlparse(link)
    assert parsed.path == LINK_PATH and not parsed.query
    return httpx.post(
        stack.url + LINK_PATH,
        headers={"Host": host, "Origin": origin or f"http://{host}"},
        data={"token": parsed.fragment},
        timeout=30,
        follow_redirects=False,
    )


def _cookie_from_link(stack: LiveStack, project: Project, owner: User) -> str:
    link = preview_link(owner, project, dashboard_url=stack.url)
    response = _open_link(stack, link, _host(stack, project))
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].split(";", 1)[0]


def test_signed_link_sets_a_host_only_cookie_and_the_app_is_served(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    link = preview_link(owner, project, dashboard_url=stack.url)
    assert urlparse(link).hostname == preview_host(project.public_id)
    response = _open_link(stack, link, _host(stack, project))
    assert response.status_code == 303
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
    assert _open_link(stack, link, _host(stack, project)).status_code == 403


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
    response = _open_link(stack, link, _host(stack, project))
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


def test_the_links_token_is_in_no_request_line_and_no_log(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    host = _host(stack, project)
    link = preview_link(owner, project, dashboard_url=stack.url)
    token = urlparse(link).fragment
    assert token and token not in link.split("#", 1)[0]

    # What the browser asks for: the page and its script (the fragment is never sent).
    page = _get(stack, LINK_PATH, host)
    assert page.status_code == 200
    assert f'<script src="{LINK_SCRIPT_PATH}"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    script = _get(stack, LINK_SCRIPT_PATH, host)
    assert script.status_code == 200 and "location.hash" in script.text
    assert _open_link(stack, link, host).status_code == 303

    # The old way, a token in the query, trades for nothing (and is what the log would keep).
    marker = "query-token-marker"
    old_way = _get(stack, f"{LINK_PATH}?token={marker}", host)
    assert "set-cookie" not in old_way.headers

    assert stack.log_dir is not None
    log = stack.log_dir / "web.log"
    deadline = time.monotonic() + 10
    while marker not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log.read_text(errors="replace")
    assert marker in text, "the access log is not where this test looks"
    assert f"POST {LINK_PATH}" in text
    assert token not in text


def test_a_link_posted_by_a_page_of_another_origin_is_refused(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    link = preview_link(owner, project, dashboard_url=stack.url)
    response = _open_link(stack, link, _host(stack, project), origin="http://evil.example")
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_the_apps_cookies_stay_on_its_own_preview_host(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    cookie = _cookie_from_link(stack, project, owner)
    response = _get(stack, "/set-cookies", _host(stack, project), cookie=cookie)
    assert response.status_code == 200
    set_cookies = response.headers.get_list("set-cookie")
    assert sorted(value.split("=", 1)[0] for value in set_cookies) == ["dotted", "own", "shared"]
    for value in set_cookies:
        attributes = [part.strip().lower() for part in value.split(";")]
        assert not any(part.startswith("domain") for part in attributes), value
        assert "path=/" in attributes
    assert "shared=1; Path=/; SameSite=Lax" in set_cookies  # the rest is kept as it was


def test_a_websocket_opened_by_a_page_of_another_origin_is_refused(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    cookie = _cookie_from_link(stack, project, owner)
    port = urlparse(stack.url).port
    assert port is not None
    with pytest.raises(Exception, match="403"):
        connect(
            f"ws://{_host(stack, project)}/live",
            sock=socket.create_connection(("127.0.0.1", port)),
            additional_headers={"Cookie": cookie},
            origin=Origin("http://evil.example"),
            open_timeout=15,
        )
    with connect(
        f"ws://{_host(stack, project)}/live",
        sock=socket.create_connection(("127.0.0.1", port)),
        additional_headers={"Cookie": cookie},
        origin=Origin(f"http://{_host(stack, project)}"),
        open_timeout=15,
    ) as websocket:
        websocket.send("hello")
        assert websocket.recv(timeout=10) == "echo: hello"


def test_the_proxy_keeps_no_cookie_an_app_set(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    """One proxy serves every project: what an app sets goes to the browser, and is never
    sent by the proxy itself on a later request (to this app or another)."""
    project, _ = app_project
    cookie = _cookie_from_link(stack, project, owner)
    assert _get(stack, "/set-cookies", _host(stack, project), cookie=cookie).status_code == 200
    seen = _get(stack, "/headers", _host(stack, project), cookie=cookie).json()
    assert "cookie" not in seen, seen


def test_a_member_removed_from_the_organisation_loses_the_preview_at_once(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    """The proxy looks the project up through the membership check (at most
    ENDPOINT_CACHE_SECONDS after the last look): a cookie from before the removal opens
    nothing after it (issue 19)."""
    project, _ = app_project
    colleague = User.objects.create_user("preview-colleague@example.com", "pw-long-enough-1")
    Membership.objects.create(organisation=project.organisation, user=colleague, role=Role.VIEWER)
    # (Links are issued to the project's creator for now; the cookie a link would give the
    # colleague is the same signed value.)
    cookie = f"{COOKIE_NAME}={preview_cookie_value(colleague.pk, project.public_id)}"
    assert _get(stack, "/", _host(stack, project), cookie=cookie).status_code == 200
    remove_member(owner, project.organisation, colleague.pk)
    # The proxy keeps a (person, project) -> bridge answer for ENDPOINT_CACHE_SECONDS to spare
    # the database on every asset: the lookup (membership) runs again once it lapses.
    time.sleep(ENDPOINT_CACHE_SECONDS + 0.5)
    assert _get(stack, "/", _host(stack, project), cookie=cookie).status_code == 404
