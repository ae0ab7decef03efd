"""A preview per port (``<public_id>-<port>.<domain>``) with the same link and cookie rules,
and wake on visit: a sleeping project's preview answers "Waking…" and turns into the app.

The port is decided by the preview host alone: a browser's own ``APP_PORT_HEADER`` is dropped,
a cookie of one preview host opens no other, and ports that are no ports are no preview."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlparse

import httpx
import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.models import User
from bridge_agent.protocol import APP_PORT_HEADER
from projects.bridge.client import endpoint_for
from projects.lifecycle import steps
from projects.models import Project, Status
from projects.preview.links import (
    PreviewTarget,
    preview_host,
    preview_link,
    preview_target_from_host,
)
from projects.preview.proxy import WEBSOCKET_WAKING_CODE
from tests.e2e.helpers import wait_for, wait_for_status
from tests.preview.sample_app import SampleApp
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)

SECOND_PORT = 5173


def _host(stack: LiveStack, project: Project, port: int | None = None) -> str:
    return f"{preview_host(project.public_id, port)}:{urlparse(stack.url).port}"


def _get(
    stack: LiveStack, path: str, host: str, cookie: str | None, **headers: str
) -> httpx.Response:
    sent = {"Host": host, **headers}
    if cookie:
        sent["Cookie"] = cookie
    return httpx.get(stack.url + path, headers=sent, timeout=30, follow_redirects=False)


def _cookie(stack: LiveStack, project: Project, owner: User, port: int | None = None) -> str:
    link = preview_link(owner, project, dashboard_url=stack.url, port=port)
    host = _host(stack, project, port)
    assert urlparse(link).hostname == preview_host(project.public_id, port)
    response = httpx.post(
        stack.url + urlparse(link).path,
        headers={"Host": host, "Origin": f"http://{host}"},
        data={"token": urlparse(link).fragment},
        timeout=30,
    )
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].split(";", 1)[0]


@pytest.fixture
def two_apps(app_project: tuple[Project, SampleApp]) -> Iterator[tuple[Project, int, int]]:
    project, first = app_project
    with SampleApp(project, port=SECOND_PORT) as second:
        yield project, first.port, second.port


def test_each_port_has_its_own_preview(
    stack: LiveStack, owner: User, two_apps: tuple[Project, int, int]
) -> None:
    project, first, second = two_apps
    cookie = _cookie(stack, project, owner, second)
    seen = _get(stack, "/headers", _host(stack, project, second), cookie).json()
    assert seen["host"] == f"localhost:{second}"
    assert APP_PORT_HEADER not in seen
    default_cookie = _cookie(stack, project, owner)
    assert _get(stack, "/headers", _host(stack, project), default_cookie).json()["host"] == (
        f"localhost:{first}"
    )


def test_a_cookie_opens_only_its_own_preview_host(
    stack: LiveStack, owner: User, two_apps: tuple[Project, int, int]
) -> None:
    project, first, second = two_apps
    cookie = _cookie(stack, project, owner, second)
    for other in (_host(stack, project), _host(stack, project, first)):
        response = _get(stack, "/", other, cookie)
        assert response.status_code == 403, other
        assert "another port" in response.text
    # And a link made for one port trades for nothing on another port's host.
    link = preview_link(owner, project, dashboard_url=stack.url, port=second)
    host = _host(stack, project, first)
    refused = httpx.post(
        stack.url + urlparse(link).path,
        headers={"Host": host, "Origin": f"http://{host}"},
        data={"token": urlparse(link).fragment},
        timeout=30,
    )
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers


def test_a_port_header_sent_by_the_browser_is_ignored(
    stack: LiveStack, owner: User, two_apps: tuple[Project, int, int]
) -> None:
    project, first, second = two_apps
    cookie = _cookie(stack, project, owner)
    forged = {APP_PORT_HEADER: str(second)}
    seen = _get(stack, "/headers", _host(stack, project), cookie, **forged).json()
    assert seen["host"] == f"localhost:{first}"
    port_cookie = _cookie(stack, project, owner, first)
    forged = {APP_PORT_HEADER: str(second)}
    seen = _get(stack, "/headers", _host(stack, project, first), port_cookie, **forged).json()
    assert seen["host"] == f"localhost:{first}"


def test_the_bridges_own_port_is_refused(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    bridge_port = urlparse(endpoint_for(project).base_url).port
    assert bridge_port is not None
    cookie = _cookie(stack, project, owner, bridge_port)
    response = _get(stack, "/", _host(stack, project, bridge_port), cookie)
    assert response.status_code == 400
    assert "bridge's own" in response.text


@pytest.mark.parametrize("label", ["-0", "-99999", "-65536", "-03000", "-", "-3000-1", "-x"])
def test_a_label_that_names_no_port_is_no_preview(label: str) -> None:
    assert preview_target_from_host(f"abcdefghij012345{label}.localhost:8000") is None
    assert preview_target_from_host("abcdefghij012345-3000.localhost:8000") == PreviewTarget(
        "abcdefghij012345", 3000
    )


@pytest.mark.parametrize("port", [0, 99999, -1, True])
def test_no_link_is_made_for_a_port_that_is_no_port(
    owner: User, running_project: Project, port: int
) -> None:
    with pytest.raises(ValueError, match="1 to 65535"):
        preview_link(owner, running_project, port=port)


def test_a_sleeping_projects_preview_wakes_it_and_shows_waking_then_the_app(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, app = app_project
    cookie = _cookie(stack, project, owner, app.port)
    host = _host(stack, project, app.port)
    assert _get(stack, "/", host, cookie).status_code == 200  # the proxy remembers the bridge
    steps.sleep(project.pk)
    project.refresh_from_db()
    assert project.status == Status.SLEEPING
    # Right away: the proxy's remembered bridge address is stale, and that must not show.

    waking = _get(stack, "/", host, cookie)
    assert waking.status_code == 503
    assert "Waking" in waking.text
    assert '<meta http-equiv="refresh"' in waking.text
    assert "<script" not in waking.text
    policy = waking.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "'unsafe-inline'" not in policy
    assert waking.headers["retry-after"]

    wait_for_status(project, Status.RUNNING, timeout=90)
    with SampleApp(project, port=app.port):  # the app of this test is no supervised service

        def served() -> bool:
            return "Hello from the agent's app" in _get(stack, "/", host, cookie).text

        wait_for(served, timeout=30, message="the preview never turned into the app")


def test_a_websocket_to_a_sleeping_project_closes_with_the_waking_code(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    cookie = _cookie(stack, project, owner)
    assert _get(stack, "/", _host(stack, project), cookie).status_code == 200
    steps.sleep(project.pk)
    project.refresh_from_db()
    assert project.status == Status.SLEEPING
    port = urlparse(stack.url).port
    assert port is not None
    with (
        connect(
            f"ws://{_host(stack, project)}/live",
            sock=socket.create_connection(("127.0.0.1", port)),
            additional_headers={"Cookie": cookie},
            open_timeout=15,
        ) as websocket,
        pytest.raises(ConnectionClosed) as closed,
    ):
        websocket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == WEBSOCKET_WAKING_CODE
    wait_for_status(project, Status.RUNNING, timeout=90)


def test_preview_traffic_counts_as_activity_once_per_interval(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp]
) -> None:
    project, _ = app_project
    cookie = _cookie(stack, project, owner)
    long_ago = timezone.now() - timedelta(hours=2)
    Project.objects.filter(pk=project.pk).update(last_activity_at=long_ago)
    assert _get(stack, "/", _host(stack, project), cookie).status_code == 200
    project.refresh_from_db()
    assert project.last_activity_at is not None and project.last_activity_at > long_ago
    # More visits within the interval write nothing more.
    Project.objects.filter(pk=project.pk).update(last_activity_at=long_ago)
    for _ in range(3):
        assert _get(stack, "/", _host(stack, project), cookie).status_code == 200
    project.refresh_from_db()
    assert project.last_activity_at == long_ago


@pytest.mark.parametrize("path", ["/starter/state", "/starter", "//starter/exec", "/./starter/x"])
def test_the_bridges_own_api_is_not_reachable_through_a_preview(
    stack: LiveStack, owner: User, app_project: tuple[Project, SampleApp], path: str
) -> None:
    project, _ = app_project
    cookie = _cookie(stack, project, owner)
    response = _get(stack, path, _host(stack, project), cookie)
    assert response.status_code == 404
    assert "last_event_id" not in response.text
