"""Fixtures for the REST API tests: tokens for the owner (alice) and an outsider (bob),
clients that send them, and the live stack for the end-to-end flow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.models import ApiToken, User
from accounts.tokens import create_api_token
from starter.redis import redis_client
from tests.support.fixtures import scripted_model_server

__all__ = ["scripted_model_server"]

API = "/api/v1"


class TokenClient(Client):
    """A Django test client that sends `Authorization: Bearer <token>` (or nothing)."""

    def __init__(self, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        super().__init__(headers=headers, HTTP_HOST="localhost")


@pytest.fixture
def alice_token(alice: User) -> str:
    return create_api_token(alice, "tests")[1]


@pytest.fixture
def bob_token(bob: User) -> str:
    return create_api_token(bob, "tests")[1]


@pytest.fixture
def agent_token(alice: User) -> str:
    return create_api_token(alice, "general agent", scope=ApiToken.SCOPE_GENERAL_AGENT)[1]


@pytest.fixture
def alice_api(alice_token: str) -> TokenClient:
    return TokenClient(alice_token)


@pytest.fixture
def bob_api(bob_token: str) -> TokenClient:
    return TokenClient(bob_token)


@pytest.fixture
def anonymous_api() -> TokenClient:
    return TokenClient(None)


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings: Any) -> Iterator[None]:
    """Rate-limit windows live in Redis, outside the test transaction: clear them."""
    yield
    client = redis_client()
    for key in client.scan_iter(f"{settings.STARTER_REDIS_PREFIX}:rate:*"):
        client.delete(key)
