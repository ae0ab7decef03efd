"""The websockets' origin check: the session counts only on a page of the dashboard's own
origin (scheme, host and port); another origin's page is refused at the handshake, even with
the person's cookie; programs (no Origin) use API tokens."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from accounts.models import User
from accounts.tokens import create_api_token
from projects.relay.auth import WebsocketAuthMiddleware, normalized_origin

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "http://127.0.0.1:8000"


class WhoAmI(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        await self.send_json({"email": user.email if user.is_authenticated else None})


@pytest.fixture(autouse=True)
def site(settings: Any) -> None:
    settings.SITE_URL = SITE
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.CSRF_TRUSTED_ORIGINS = [SITE, "https://*.trusted.example"]


@pytest.fixture(autouse=True)
def close_thread_connections() -> Iterator[None]:
    """Token checks run on executor threads whose database connections outlive the test's
    event loop; collected here so that the test database can be dropped at the end."""
    yield
    gc.collect()


@pytest.fixture
def person() -> User:
    return User.objects.create_user("ws-origin@example.com", "pw-long-enough-1")


@pytest.fixture
def cookie(person: User) -> bytes:
    client = Client()
    client.force_login(person)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return f"{settings.SESSION_COOKIE_NAME}={value}".encode()


@pytest.fixture
def token(person: User) -> str:
    return create_api_token(person, "ws origin tests")[1]


async def _connect(
    headers: list[tuple[bytes, bytes]], path: str = "/ws/projects/p/"
) -> tuple[bool, object]:
    """(accepted, the first message or the close code of a refused handshake)."""
    communicator = WebsocketCommunicator(
        WebsocketAuthMiddleware(WhoAmI.as_asgi()), path, headers=headers
    )
    connected, detail = await communicator.connect()
    if not connected:
        return False, detail
    message = await communicator.receive_json_from()
    await communicator.disconnect()
    return True, message


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:3000",  # an app on another port of the same host (finding 7)
        "http://127.0.0.1",  # the same host on the default port
        "https://127.0.0.1:8000",  # another scheme
        "http://evil.example",
        "http://localhost:3000",
        "null",  # a sandboxed frame or a file
        "http://abc123.localhost:8000",  # a preview, on the dashboard's port
    ],
)
async def test_a_page_of_another_origin_is_refused_even_with_the_session(
    cookie: bytes, origin: str
) -> None:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"origin", origin.encode()),
        (b"cookie", cookie),
    ]
    assert await _connect(headers) == (False, 4403)


async def test_the_dashboards_origin_gets_the_session(person: User, cookie: bytes) -> None:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"origin", SITE.encode()),
        (b"cookie", cookie),
    ]
    assert await _connect(headers) == (True, {"email": person.email})


async def test_the_origin_the_page_was_served_on_counts_when_its_host_is_allowed(
    person: User, cookie: bytes
) -> None:
    same = [(b"host", b"localhost:8000"), (b"origin", b"http://localhost:8000")]
    assert await _connect([*same, (b"cookie", cookie)]) == (True, {"email": person.email})
    # The same rule for a host that is not the dashboard's: refused.
    other = [(b"host", b"evil.example:8000"), (b"origin", b"http://evil.example:8000")]
    assert await _connect([*other, (b"cookie", cookie)]) == (False, 4403)


async def test_a_trusted_wildcard_origin_gets_the_session(person: User, cookie: bytes) -> None:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"origin", b"https://app.trusted.example"),
        (b"cookie", cookie),
    ]
    assert await _connect(headers) == (True, {"email": person.email})


async def test_a_program_without_origin_uses_its_token_and_never_the_cookie(
    person: User, cookie: bytes, token: str
) -> None:
    with_token = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]
    assert await _connect(with_token) == (True, {"email": person.email})
    cookie_only = [(b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
    assert await _connect(cookie_only) == (True, {"email": None})  # the consumer says 4401


async def test_a_token_is_the_person_whatever_the_page(person: User, token: str) -> None:
    """A token is never ambient: whoever presents one holds it, on any page."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:3000")]
    result = await _connect(headers, path=f"/ws/projects/p/?token={token}")
    assert result == (True, {"email": person.email})


def test_origins_are_compared_with_their_port() -> None:
    assert normalized_origin("HTTP://LocalHost:80/") == "http://localhost"
    assert normalized_origin("https://example.com:443") == "https://example.com"
    assert normalized_origin("http://127.0.0.1:3000") == "http://127.0.0.1:3000"
    assert normalized_origin("http://[::1]:8000") == "http://[::1]:8000"
    assert normalized_origin("null") is None
    assert normalized_origin("http://host:notaport") is None
