"""The gateway served for real: the product's web process (daphne, ``starter.web_server``) on
the test database, with built-in providers moved to a canned upstream
(``STARTER_GATEWAY_UPSTREAMS``) and the scripted model server as a custom provider's
upstream. The tests speak plain HTTP to it, as pi in a Sprite does."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import CustomProvider, User
from gateway.tokens import token_for
from organisations.personal import personal_organisation_of
from projects.models import Project, Status
from tests.conftest import RUN_ID
from tests.gateway.canned_upstream import CannedUpstream
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack, launch_live_stack
from tests.support.model_server import API_KEY, ScriptedModelServer

__all__ = ["scripted_model_server"]

# The owner's real keys: what the upstreams must receive, and nothing in a Sprite may hold.
REAL_KEYS = {
    "anthropic": "sk-ant-real-owner-key",
    "google": "AIza-real-owner-key",
    "openai": "sk-openai-real-owner-key",
    "openrouter": "sk-or-real-owner-key",
}
MOVED_PROVIDERS = tuple(REAL_KEYS)


@pytest.fixture(scope="session")
def canned_upstream() -> Iterator[CannedUpstream]:
    with CannedUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="session")
def gateway_stack(
    django_db_setup: None, django_db_blocker: object, canned_upstream: CannedUpstream
) -> Iterator[LiveStack]:
    """daphne serving ``starter.asgi`` (no worker: the gateway needs none)."""
    database_name = str(settings.DATABASES["default"]["NAME"])
    data_dir = Path(tempfile.mkdtemp(prefix=f"starter-gateway-{RUN_ID}-"))
    moved = json.dumps({name: canned_upstream.url for name in MOVED_PROVIDERS})
    stack = launch_live_stack(
        database_name, data_dir, {"STARTER_GATEWAY_UPSTREAMS": moved}, with_worker=False
    )
    try:
        stack.wait_serving()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        with django_db_blocker.unblock(), connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [database_name],
            )


@dataclass
class Tenant:
    """A project's owner, the project and its gateway token."""

    owner: User
    project: Project
    token: str


def make_tenant(email: str, model_server: ScriptedModelServer | None = None) -> Tenant:
    owner = User.objects.create_user(email, "pw-long-enough-1")
    organisation = personal_organisation_of(owner)
    for provider, key in REAL_KEYS.items():
        organisation.set_api_key(provider, key)
    organisation.save()
    if model_server is not None:
        CustomProvider.objects.create(
            organisation=organisation,
            user=owner,
            name="fake",
            api=CustomProvider.API_OPENAI,
            base_url=model_server.base_url,
            model_ids=["fake-model"],
            api_key=API_KEY,
        )
    project = Project.objects.create(
        owner=owner, name="Gateway", status=Status.RUNNING, sprite_name=f"gw-{owner.pk}"
    )
    return Tenant(owner, project, token_for(project))


def wait_for_the_database_to_settle(timeout: float = 10.0) -> None:
    """Until no other connection to the test database is busy.

    The gateway writes a call's ledger row after the answer has gone out, so a test can end
    while the web process still writes; flushing the database then can deadlock with that
    write (TRUNCATE against the foreign-key check)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    # The write may not have begun when the test ends: the database must stay quiet for a
    # few looks in a row, not just one.
    while time.monotonic() < deadline and quiet < 6:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state NOT IN ('idle')"
                " AND backend_type = 'client backend'"
            )
            (busy,) = cursor.fetchone() or (0,)
        quiet = 0 if busy else quiet + 1
        time.sleep(0.05)


@pytest.fixture
def tenant(transactional_db: None, scripted_model_server: ScriptedModelServer) -> Iterator[Tenant]:
    yield make_tenant("gateway-owner@example.com", scripted_model_server)
    wait_for_the_database_to_settle()
