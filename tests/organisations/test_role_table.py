"""Who may do what to a project, walked over every entry point against one table.

Five actors meet one project of a shared organisation: its owner, an admin, a member (the
project's creator), a viewer, and an outsider (a member of no organisation of the
project). The test walks every dashboard URL of a project (the URL resolver's list), every
API operation of the OpenAPI document that takes a project id, the project socket, the
terminal socket, the preview host (its link and raw-file link) and the model gateway, and
compares each answer with the table below: ``ok`` (the lookup let the actor through,
whatever the project's machine then answered), ``403`` (a member whose role is not
enough: the answer names the role) or ``404`` (not a member: the same answer as for a
project that does not exist). A route with no entry in the table fails the test: adding a
URL means saying here who may use it.

The project's machine failed, so no call reaches (or wakes) one and every answer is quick;
each actor's request runs in a savepoint rolled back after it, so what one actor does (a
delete) never changes what the next one meets.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBase
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tokens import create_api_token
from gateway.tokens import token_for
from organisations.models import Membership, Organisation
from organisations.roles import Role
from projects.models import Project, Status
from projects.preview import raw_files
from projects.preview.links import LINK_PATH, _claims, preview_host, preview_link
from projects.preview.raw_files import FILE_PATH_PREFIX, file_link
from projects.relay.routing import websocket_urlpatterns
from tests.api.openapi_walk import operations, request_for
from tests.projects.test_tenant_isolation import OTHER_PARAMETERS, PROJECT_URLS

ACTORS = ("owner", "admin", "member", "viewer", "outsider")
OK, FORBIDDEN, NOT_FOUND = "ok", "403", "404"

# What each kind of route allows each actor. VIEW: watch and read; USE: act on the project
# (prompt, exec, files, terminals, secrets, lifecycle); DELETE: the project's creator with
# the member role, or an admin or owner (the member here created the project).
EXPECTED: dict[str, dict[str, str]] = {
    "view": {"owner": OK, "admin": OK, "member": OK, "viewer": OK, "outsider": NOT_FOUND},
    "use": {"owner": OK, "admin": OK, "member": OK, "viewer": FORBIDDEN, "outsider": NOT_FOUND},
    "delete": {
        "owner": OK,
        "admin": OK,
        "member": OK,
        "viewer": FORBIDDEN,
        "outsider": NOT_FOUND,
    },
}

# Every dashboard route of a project, by URL name and method: its kind.
DASHBOARD: dict[tuple[str, str], str] = {
    ("projects:detail", "GET"): "view",
    ("projects:status", "GET"): "view",
    ("projects:lifecycle", "GET"): "view",
    ("projects:manage", "GET"): "view",
    ("projects:rename", "GET"): "use",
    ("projects:rename", "POST"): "use",
    ("projects:delete", "GET"): "delete",
    ("projects:delete", "POST"): "delete",
    ("projects:action", "POST"): "use",  # wake; destroy: DESTROY_ACTION below
    ("projects:secret_set", "POST"): "use",
    ("projects:secret_remove", "POST"): "use",
    ("projects:agent_history", "GET"): "view",
    ("projects:agent_send", "POST"): "use",
    ("projects:agent_abort", "POST"): "use",
    ("projects:agent_commands", "GET"): "view",
    ("projects:usage", "GET"): "view",
    ("projects:agent_state", "GET"): "view",
    ("projects:agent_config", "POST"): "use",
    ("projects:agent_sessions", "GET"): "view",
    ("projects:agent_session_new", "POST"): "use",
    ("projects:agent_session_switch", "POST"): "use",
    ("projects:agent_session_rename", "POST"): "use",
    ("projects:agent_session_delete", "POST"): "use",
    ("projects:agent_sessions_archived", "GET"): "view",
    ("projects:agent_session_restore", "POST"): "use",
    ("projects:agent_queue_clear", "POST"): "use",
    ("projects:agent_compact", "POST"): "use",
    ("projects:agent_tree", "GET"): "view",
    ("projects:agent_edit", "POST"): "use",
    ("projects:agent_clone", "POST"): "use",
    ("projects:secret_provide", "POST"): "use",
    ("projects:preview_link", "GET"): "view",
    ("projects:inspect", "GET"): "view",
    ("projects:file_view", "GET"): "view",
    ("projects:file_raw", "GET"): "view",
    ("projects:logs", "GET"): "view",
    ("projects:files_tree", "GET"): "view",
    ("projects:files_stat", "GET"): "view",
    ("projects:files_text", "GET"): "view",
    ("projects:files_save", "POST"): "use",
    ("projects:files_rename", "POST"): "use",
    ("projects:files_delete", "POST"): "use",
    ("projects:files_download", "GET"): "view",
    ("projects:files_archive", "GET"): "view",
    ("projects:files_upload", "PUT"): "use",
    ("projects:terminals", "GET"): "view",
    ("projects:terminals", "POST"): "use",
    ("projects:terminal_close", "POST"): "use",
    ("projects:service_runs", "GET"): "view",
    ("projects:service_log_stream", "GET"): "view",
    ("projects:service_action", "POST"): "use",
    ("projects:trace", "GET"): "view",
    ("projects:branches", "GET"): "view",
    ("projects:branch_switch", "POST"): "use",
    ("projects:checkpoints", "GET"): "view",
    ("projects:checkpoints", "POST"): "use",
    ("projects:checkpoint_restore", "POST"): "use",
    ("projects:limits", "GET"): "view",
    ("projects:limits_update", "POST"): "use",
    ("projects:guard_continue", "POST"): "use",
    ("projects:guard_stop", "POST"): "use",
}
DASHBOARD_METHODS = ("GET", "POST", "PUT", "DELETE")

# Every API operation that takes a project id: its kind.
P = "/api/v1/projects/{project_id}"
API: dict[str, str] = {
    f"GET {P}": "view",
    f"PATCH {P}": "use",
    f"DELETE {P}": "delete",
    f"POST {P}/wake": "use",
    f"POST {P}/sleep": "use",
    f"POST {P}/rebootstrap": "use",
    f"POST {P}/retry": "use",
    f"POST {P}/destroy": "delete",
    f"POST {P}/gateway-token/rotate": "use",
    f"GET {P}/secrets": "use",
    f"PUT {P}/secrets/{{name}}": "use",
    f"DELETE {P}/secrets/{{name}}": "use",
    f"GET {P}/checkpoints": "view",
    f"POST {P}/checkpoints": "use",
    f"POST {P}/checkpoints/{{checkpoint_id}}/restore": "use",
    f"POST {P}/prompt": "use",
    f"POST {P}/steer": "use",
    f"POST {P}/follow-up": "use",
    f"POST {P}/abort": "use",
    f"POST {P}/queue/clear": "use",
    f"GET {P}/state": "view",
    f"POST {P}/config": "use",
    f"GET {P}/sessions": "view",
    f"POST {P}/sessions/new": "use",
    f"POST {P}/sessions/rename": "use",
    f"POST {P}/sessions/switch": "use",
    f"POST {P}/sessions/compact": "use",
    f"GET {P}/sessions/archived": "view",
    f"POST {P}/sessions/archived/restore": "use",
    f"DELETE {P}/sessions/{{session_id}}": "use",
    f"GET {P}/commands": "view",
    f"GET {P}/messages": "view",
    f"GET {P}/history": "view",
    f"GET {P}/sessions/{{session_id}}/trace": "view",
    f"GET {P}/inspect": "view",
    f"GET {P}/sessions/{{session_id}}/tree": "view",
    f"POST {P}/sessions/{{session_id}}/edit": "use",
    f"POST {P}/sessions/{{session_id}}/branch": "use",
    f"POST {P}/sessions/{{session_id}}/clone": "use",
    f"GET {P}/events": "view",
    f"POST {P}/exec": "use",
    f"GET {P}/files": "view",
    f"GET {P}/files/content": "view",
    f"PUT {P}/files/content": "use",
    f"GET {P}/workspace/tree": "view",
    f"GET {P}/workspace/stat": "view",
    f"GET {P}/workspace/download": "view",
    f"GET {P}/workspace/archive": "view",
    f"PUT {P}/workspace/upload": "use",
    f"POST {P}/workspace/save": "use",
    f"POST {P}/workspace/rename": "use",
    f"POST {P}/workspace/delete": "use",
    f"GET {P}/services": "view",
    f"GET {P}/services/{{name}}/logs": "view",
    f"GET {P}/services/{{name}}/runs": "view",
    f"POST {P}/services/{{name}}/{{action}}": "use",
    f"GET {P}/terminals": "view",
    f"POST {P}/terminals": "use",
    f"DELETE {P}/terminals/{{terminal_id}}": "use",
    f"GET {P}/limits": "view",
    f"PATCH {P}/limits": "use",
    f"POST {P}/guard/continue": "use",
    f"POST {P}/guard/stop": "use",
}

# The sockets and the preview host: their kinds.
SOCKETS = {"project socket": "view", "terminal socket (attach)": "view"}
PREVIEW = {"preview link": "view", "raw-file link": "view"}

# The model gateway (gateway/proxy.py), one route per provider API shape: a person's
# credentials (a session cookie, an API token) open none of them, whatever the role.
GATEWAY_ROUTES = (
    "/gateway/p/openai/v1/chat/completions",
    "/gateway/p/openai/v1/responses",
    "/gateway/p/anthropic/v1/messages",
    "/gateway/p/google/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    "/gateway/p/openrouter/api/v1/chat/completions",
)


@dataclass
class Cast:
    organisation: Organisation
    project: Project
    users: dict[str, User]

    def client(self, actor: str) -> Client:
        client = Client()
        client.force_login(self.users[actor])
        return client


def _cast() -> Cast:
    users = {
        actor: User.objects.create_user(f"{actor}@example.com", "pw-long-enough-1")
        for actor in ACTORS
    }
    organisation = Organisation.objects.create(name="Acme")
    for actor, role in (
        ("owner", Role.OWNER),
        ("admin", Role.ADMIN),
        ("member", Role.MEMBER),
        ("viewer", Role.VIEWER),
    ):
        Membership.objects.create(organisation=organisation, user=users[actor], role=role)
    project = Project.objects.create(
        owner=users["member"],
        organisation=organisation,
        name="Shared app",
        # Failed: nothing wakes it or reaches a machine, every answer comes at once.
        status=Status.ERROR,
        sprite_name="starter-role-table",
    )
    return Cast(organisation, project, users)


@pytest.fixture
def cast(db: None) -> Cast:
    return _cast()


def outcome(response: HttpResponseBase) -> str:
    """What an answer says about the lookup: refused (403, 404 for the project) or through."""
    status = response.status_code
    if status == 401 or "/accounts/login/" in str(response.get("Location", "")):
        raise AssertionError(f"the actor was not signed in ({status})")
    if status == 403:
        return FORBIDDEN
    if status == 404 and isinstance(response, HttpResponse):
        body = response.content.decode(errors="replace")
        if "No such project" in body:
            return NOT_FOUND
    return OK


def each_actor(cast: Cast, call: Any) -> dict[str, str]:
    """Each actor's outcome of `call(actor)`, in a savepoint undone after it."""
    found: dict[str, str] = {}
    for actor in ACTORS:
        with transaction.atomic():
            response = call(actor)
            found[actor] = outcome(response)
            if response.status_code == 403 and isinstance(response, HttpResponse):
                # A refusal names the role needed.
                assert b"member role" in response.content or b"admin role" in response.content
            # Not closed here: closing fires request_finished, whose handler would close
            # the test's database connection (the client closes non-streaming ones).
            transaction.set_rollback(True)
    return found


# -- the dashboard ---------------------------------------------------------------------------


def _dashboard_url(url_name: str, parameters: list[str], public_id: str, **extra: str) -> str:
    kwargs = {name: OTHER_PARAMETERS[name] for name in parameters if name != "public_id"}
    return reverse(url_name, kwargs={"public_id": public_id, **kwargs, **extra})


@pytest.mark.parametrize(
    ("url_name", "parameters"), PROJECT_URLS, ids=[name for name, _ in PROJECT_URLS]
)
def test_every_dashboard_route_answers_each_role_as_the_table_says(
    url_name: str, parameters: list[str], cast: Cast
) -> None:
    url = _dashboard_url(url_name, parameters, cast.project.public_id)
    clients = {actor: cast.client(actor) for actor in ACTORS}
    checked = 0
    for method in DASHBOARD_METHODS:
        served = clients["outsider"].generic(method, url).status_code != 405
        key = (url_name, method)
        if not served:
            assert key not in DASHBOARD, f"{method} {url_name} is in the table but not served"
            continue
        assert key in DASHBOARD, f"{method} {url_name} has no entry in the role table: add one"
        found = each_actor(cast, lambda actor, method=method: clients[actor].generic(method, url))
        assert found == EXPECTED[DASHBOARD[key]], (method, url)
        checked += 1
    assert checked, f"{url_name} answered no method"


def test_the_dashboard_table_names_only_real_routes() -> None:
    names = {name for name, _ in PROJECT_URLS}
    assert {name for name, _ in DASHBOARD} == names


def test_destroying_through_the_lifecycle_action_is_a_delete(cast: Cast) -> None:
    url = reverse("projects:action", args=[cast.project.public_id, "destroy"])
    found = each_actor(cast, lambda actor: cast.client(actor).post(url))
    assert found == EXPECTED["delete"]


def test_a_member_cannot_delete_a_project_someone_else_created(cast: Cast) -> None:
    other = User.objects.create_user("other@example.com", "pw-long-enough-1")
    Membership.objects.create(organisation=cast.organisation, user=other, role=Role.MEMBER)
    client = Client()
    client.force_login(other)
    response = client.post(reverse("projects:delete", args=[cast.project.public_id]))
    assert response.status_code == 403
    assert "admin role" in response.content.decode()
    cast.project.refresh_from_db()
    assert cast.project.status == Status.ERROR


def test_refusals_answer_json_to_fetch_and_a_page_to_people(cast: Cast) -> None:
    viewer = cast.client("viewer")
    answer = viewer.post(
        reverse("projects:agent_send", args=[cast.project.public_id]),
        json.dumps({"message": "hi"}),
        content_type="application/json",
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 403
    body = answer.json()
    assert body["error"] == "role_required" and body["needed_role"] == "member"
    assert body["message"] == (
        "This needs the member role (or higher) in 'Acme'; you are a viewer there."
    )
    page = viewer.get(reverse("projects:rename", args=[cast.project.public_id]))
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")
    assert "you are a viewer there" in page.content.decode()
    missing = cast.client("outsider").get(
        reverse("projects:agent_state", args=[cast.project.public_id]),
        headers={"Accept": "application/json"},
    )
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "No such project."}


def test_the_workspace_tells_the_page_the_callers_role(cast: Cast) -> None:
    url = reverse("projects:detail", args=[cast.project.public_id])
    for actor, can_use in (("viewer", False), ("member", True)):
        response = cast.client(actor).get(url)
        config = response.context["workspace_config"]
        assert config["role"] == actor and config["can"]["use"] is can_use
        assert config["organisation"]["name"] == "Acme"
        page = response.content.decode()
        note = "You are a viewer in Acme: you can watch but not prompt."
        assert (note in page) is not can_use
        assert ("ws-read-only" in page) is not can_use


# -- the API ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    response = Client(HTTP_HOST="localhost").get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def test_the_api_table_covers_every_project_operation(document: dict[str, Any]) -> None:
    walked = {op.name for op in operations(document) if op.is_project_scoped}
    assert walked == set(API), (
        f"missing from the table: {sorted(walked - set(API))}; "
        f"not in the API: {sorted(set(API) - walked)}"
    )


def test_every_api_operation_answers_each_role_as_the_table_says(
    document: dict[str, Any], cast: Cast
) -> None:
    tokens = {actor: create_api_token(cast.users[actor], "t")[1] for actor in ACTORS}
    clients = {
        actor: Client(HTTP_HOST="localhost", headers={"Authorization": f"Bearer {token}"})
        for actor, token in tokens.items()
    }
    differences = {}
    for operation in operations(document):
        if not operation.is_project_scoped:
            continue
        path, query, body = request_for(operation, document, cast.project.public_id)
        if query:
            path += "?" + "&".join(f"{key}={value}" for key, value in query.items())

        data = json.dumps(body) if body is not None else ""

        def call(
            actor: str, method: str = operation.method.upper(), url: str = path, data: str = data
        ) -> Any:
            return clients[actor].generic(method, url, data, content_type="application/json")

        found = each_actor(cast, call)
        expected = EXPECTED[API[operation.name]]
        if found != expected:
            differences[operation.name] = found
    assert not differences, json.dumps(differences, indent=1)


def test_creating_and_listing_by_organisation(cast: Cast) -> None:
    public_id = cast.organisation.public_id
    for actor, status in (("member", 201), ("viewer", 403), ("outsider", 404)):
        token = create_api_token(cast.users[actor], "t")[1]
        client = Client(HTTP_HOST="localhost", headers={"Authorization": f"Bearer {token}"})
        with transaction.atomic():
            created = client.post(
                "/api/v1/projects",
                json.dumps({"name": "Made here", "organisation": public_id}),
                content_type="application/json",
            )
            assert created.status_code == status, (actor, created.content)
            if status == 201:
                assert created.json()["organisation"] == public_id
            transaction.set_rollback(True)
    token = create_api_token(cast.users["viewer"], "t")[1]
    viewer = Client(HTTP_HOST="localhost", headers={"Authorization": f"Bearer {token}"})
    # Without a name: the viewer's personal organisation (where it is the owner).
    mine = viewer.post("/api/v1/projects", {"name": "Mine"}, content_type="application/json")
    assert mine.status_code == 201
    assert mine.json()["organisation"] != public_id
    listed = viewer.get("/api/v1/projects").json()["items"]
    assert {(item["name"], item["organisation"]) for item in listed} == {
        ("Shared app", public_id),
        ("Mine", mine.json()["organisation"]),
    }
    only = viewer.get(f"/api/v1/projects?organisation={public_id}").json()["items"]
    assert [item["name"] for item in only] == ["Shared app"]
    outsider_token = create_api_token(cast.users["outsider"], "t")[1]
    outsider = Client(HTTP_HOST="localhost", headers={"Authorization": f"Bearer {outsider_token}"})
    assert outsider.get(f"/api/v1/projects?organisation={public_id}").status_code == 404


# -- the sockets, the preview host and the gateway (other threads: committed data) --------


@pytest.fixture
def committed_cast(transactional_db: None) -> Iterator[Cast]:
    yield _cast()
    # The lookups ran on executor threads whose connections outlive the event loop:
    # collected here, so that the test database can be dropped at the end.
    gc.collect()


def _socket_close(path: str, user: User) -> Any:
    """The close code a socket at `path` gives `user` (None: it stayed open)."""

    async def run() -> Any:
        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        assert connected
        if await communicator.receive_nothing(timeout=2):
            await communicator.disconnect()
            return None  # it stays open
        message = await communicator.receive_output()
        assert message["type"] == "websocket.close", message
        return message.get("code")

    return async_to_sync(run)()


def test_the_sockets_answer_each_role_as_the_table_says(committed_cast: Cast) -> None:
    public_id = committed_cast.project.public_id
    project_socket = {
        actor: _socket_close(f"/ws/projects/{public_id}/", user)
        for actor, user in committed_cast.users.items()
    }
    # Members stay connected (watching); the outsider is told there is no such project.
    assert {actor: code or OK for actor, code in project_socket.items()} == {
        **{actor: OK for actor in ACTORS if actor != "outsider"},
        "outsider": 4404,
    }
    assert SOCKETS["project socket"] == "view"
    terminal = {
        actor: _socket_close(f"/ws/projects/{public_id}/terminals/0123456789abcdef/", user)
        for actor, user in committed_cast.users.items()
    }
    # A viewer may attach (read output): past the lookup, the stopped machine says 4409.
    assert SOCKETS["terminal socket (attach)"] == "view"
    assert terminal == {
        **{actor: 4409 for actor in ACTORS if actor != "outsider"},
        "outsider": 4404,
    }


def _preview_requests(
    application: Any, host: str, token: str, file_token: str
) -> tuple[httpx.Response, httpx.Response]:
    """Open the preview link, then the raw-file link, on the preview host (in process)."""

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url=f"http://{host}"
        ) as client:
            opened = await client.post(
                LINK_PATH, data={"token": token}, headers={"Origin": f"http://{host}"}
            )
            shown = await client.get(FILE_PATH_PREFIX + file_token)
            return opened, shown

    return async_to_sync(run)()


def test_the_preview_host_answers_each_role_as_the_table_says(committed_cast: Cast) -> None:
    from starter.asgi import application

    project = committed_cast.project
    host = preview_host(project.public_id)
    found_link: dict[str, str] = {}
    found_file: dict[str, str] = {}
    for actor, user in committed_cast.users.items():
        try:
            link = preview_link(user, project, "http://localhost:8000/")
            token = link.split("#", 1)[1]
            file_token = file_link(user, project, "index.html").split(FILE_PATH_PREFIX, 1)[1]
            found_link[actor] = found_file[actor] = OK
        except Http404:
            found_link[actor] = found_file[actor] = NOT_FOUND
            # A link made for a member who has since left: the host checks again.
            token = signing.dumps(
                _claims(user.pk, project.public_id, None),
                salt="projects.preview.proxy.link",
                compress=True,
            )
            file_token = signing.dumps(
                {"u": user.pk, "p": project.public_id, "f": "index.html"},
                salt=raw_files._FILE_SALT,
                compress=True,
            )
        opened, shown = _preview_requests(application, host, token, file_token)
        assert (opened.status_code == 303) is (found_link[actor] == OK), (actor, opened.text)
        assert (opened.status_code == 404) is (found_link[actor] == NOT_FOUND), actor
        assert (shown.status_code == 404) is (found_file[actor] == NOT_FOUND), (actor, shown.text)
    assert found_link == {a: "ok" for a in ACTORS[:4]} | {"outsider": NOT_FOUND}
    assert PREVIEW == {"preview link": "view", "raw-file link": "view"}


def test_a_persons_credentials_never_open_the_gateway(committed_cast: Cast) -> None:
    from starter.asgi import application

    project = committed_cast.project
    body = json.dumps({"model": "gpt-4o-mini", "messages": []})
    calls: list[tuple[str, str, dict[str, str]]] = []
    for actor, user in committed_cast.users.items():
        session = Client()
        session.force_login(user)
        name = settings.SESSION_COOKIE_NAME
        cookie = f"{name}={session.cookies[name].value}"
        api_token = create_api_token(user, "t")[1]
        for route in GATEWAY_ROUTES:
            for headers in (
                {"Cookie": cookie},
                {"Authorization": f"Bearer {api_token}"},
                {"x-api-key": api_token},
            ):
                calls.append((actor, route, headers))
    gateway_token = token_for(project)

    async def run() -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://localhost:8000"
        ) as client:
            people = [
                await client.post(route, content=body, headers=headers)
                for _, route, headers in calls
            ]
            project_token = [
                await client.post(
                    route, content=body, headers={"Authorization": f"Bearer {gateway_token}"}
                )
                for route in GATEWAY_ROUTES
            ]
            return people, project_token

    people, project_token = async_to_sync(run)()
    for (actor, route, headers), answer in zip(calls, people, strict=True):
        assert answer.status_code == 401, (actor, route, headers, answer.text)
    # Only the project's own gateway token gets past the gateway's check.
    for route, answer in zip(GATEWAY_ROUTES, project_token, strict=True):
        assert answer.status_code != 401, (route, answer.text)
