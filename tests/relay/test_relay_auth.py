"""Who may watch a project: its owner, by session (from the dashboard only) or API token."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts.models import User
from accounts.tokens import create_api_token
from projects.broadcast import broadcast_gateway, broadcast_lifecycle
from projects.models import Project, Status
from tests.relay.viewer import Viewer
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)

OpenViewer = Callable[..., Viewer]


@pytest.fixture
def sleeping_project(owner: User) -> Project:
    return Project.objects.create(
        owner=owner,
        name="Asleep",
        status=Status.SLEEPING,
        sprite_name="starter-not-on-this-machine",
    )


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_anonymous_socket_is_closed_with_4401(
    sleeping_project: Project, open_viewer: OpenViewer
) -> None:
    assert open_viewer(sleeping_project, None).wait_closed() == 4401


def test_unknown_token_is_closed_with_4401(
    sleeping_project: Project, open_viewer: OpenViewer
) -> None:
    assert open_viewer(sleeping_project, "st_not-a-real-token").wait_closed() == 4401


def test_outsider_gets_4404_for_the_project(
    sleeping_project: Project, open_viewer: OpenViewer
) -> None:
    outsider = User.objects.create_user("outsider@example.com", "pw-long-enough-1")
    token = create_api_token(outsider, "outsider")[1]
    assert open_viewer(sleeping_project, token).wait_closed() == 4404


def test_unknown_project_is_4404(stack: LiveStack, owner_token: str) -> None:
    ghost = Project(public_id="0000000000000000")
    assert Viewer(stack.url, ghost.public_id, owner_token, None).wait_closed() == 4404


def test_owner_token_is_accepted_and_told_the_sprite_is_not_running(
    sleeping_project: Project, owner_token: str, open_viewer: OpenViewer
) -> None:
    viewer = open_viewer(sleeping_project, owner_token, after=0)
    viewer.wait(lambda v: "sprite_not_running" in v.relay_states, what="the relay state")
    assert viewer.close_code is None


def test_token_in_the_query_string_works_for_clients_without_headers(
    stack: LiveStack, sleeping_project: Project, owner_token: str
) -> None:
    url = stack.url.replace("http://", "ws://") + (
        f"/ws/projects/{sleeping_project.public_id}/?token={owner_token}"
    )
    with connect(url, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "subscribe", "after": None}))
        first = json.loads(socket.recv(timeout=15))
        while first.get("kind") == "presence":  # who else is watching, sent on joining
            first = json.loads(socket.recv(timeout=15))
        assert first == {
            "kind": "relay",
            "state": "sprite_not_running",
        }


def test_session_cookie_works_from_the_dashboard_origin(
    stack: LiveStack, owner: User, sleeping_project: Project, open_viewer: OpenViewer
) -> None:
    viewer = open_viewer(
        sleeping_project,
        None,
        after=None,
        headers={"Cookie": _session_cookie(owner), "Origin": stack.url},
    )
    viewer.wait(lambda v: "sprite_not_running" in v.relay_states, what="the relay state")


@pytest.mark.parametrize(
    "origin_of",
    [
        lambda stack, project: (
            f"http://{project.public_id}.{settings.STARTER_PREVIEW_DOMAIN}:"
            + stack.url.rsplit(":", 1)[1]
        ),
        lambda stack, project: "http://127.0.0.1:3000",  # an app on another port (finding 7)
        lambda stack, project: "http://evil.example",
    ],
    ids=["preview", "other-port", "other-site"],
)
def test_session_cookie_from_another_origin_is_refused_at_the_handshake(
    stack: LiveStack,
    owner: User,
    sleeping_project: Project,
    open_viewer: OpenViewer,
    origin_of: Callable[[LiveStack, Project], str],
) -> None:
    headers = {"Cookie": _session_cookie(owner), "Origin": origin_of(stack, sleeping_project)}
    with pytest.raises(InvalidStatus) as refused:
        open_viewer(sleeping_project, None, headers=headers)
    assert refused.value.response.status_code == 403


def test_a_malformed_subscribe_is_closed_with_4400(
    sleeping_project: Project, owner_token: str, open_viewer: OpenViewer
) -> None:
    viewer = open_viewer(sleeping_project, owner_token, subscribe=False)
    viewer.connection.send(json.dumps({"type": "subscribe", "after": -3}))
    assert viewer.wait_closed() == 4400


def test_lifecycle_updates_arrive_on_the_project_socket_and_the_home_socket(
    stack: LiveStack,
    owner: User,
    owner_token: str,
    sleeping_project: Project,
    open_viewer: OpenViewer,
) -> None:
    viewer = open_viewer(sleeping_project, owner_token, after=None)
    viewer.wait(lambda v: v.relay_states != [], what="the subscription")
    home_url = stack.url.replace("http://", "ws://") + "/ws/home/"
    with connect(
        home_url, additional_headers={"Authorization": f"Bearer {owner_token}"}, open_timeout=10
    ) as home:
        Project.objects.filter(pk=sleeping_project.pk).update(progress_step="Waking up")
        sleeping_project.refresh_from_db()
        broadcast_lifecycle(sleeping_project)
        frame = json.loads(home.recv(timeout=10))
    assert frame["kind"] == "lifecycle"
    assert frame["payload"]["public_id"] == sleeping_project.public_id
    viewer.wait(
        lambda v: any(p["step"] == "Waking up" for p in v.lifecycle), what="the lifecycle frame"
    )


def test_gateway_updates_reach_the_projects_viewers_and_the_owners_home_only(
    stack: LiveStack,
    owner: User,
    owner_token: str,
    sleeping_project: Project,
    open_viewer: OpenViewer,
) -> None:
    outsider = User.objects.create_user("outsider@example.com", "pw-long-enough-1")
    outsider_token = create_api_token(outsider, "outsider")[1]
    viewer = open_viewer(sleeping_project, owner_token, after=None)
    viewer.wait(lambda v: v.relay_states != [], what="the subscription")
    home_url = stack.url.replace("http://", "ws://") + "/ws/home/"
    with (
        connect(
            home_url, additional_headers={"Authorization": f"Bearer {owner_token}"}, open_timeout=10
        ) as home,
        connect(
            home_url,
            additional_headers={"Authorization": f"Bearer {outsider_token}"},
            open_timeout=10,
        ) as other_home,
    ):
        broadcast_gateway(
            sleeping_project.public_id, owner.pk, {"kind": "usage", "project": {"tokens": 7}}
        )
        frame = json.loads(home.recv(timeout=10))
        assert frame == {"kind": "gateway", "payload": {"kind": "usage", "project": {"tokens": 7}}}
        with pytest.raises(TimeoutError):
            other_home.recv(timeout=1)
    viewer.wait(
        lambda v: any(f.get("kind") == "gateway" for f in v.frames), what="the gateway frame"
    )


def test_home_socket_without_login_is_closed_with_4401(stack: LiveStack) -> None:
    with connect(stack.url.replace("http://", "ws://") + "/ws/home/", open_timeout=10) as home:
        with pytest.raises(ConnectionClosed):
            home.recv(timeout=10)
        assert home.close_code == 4401
