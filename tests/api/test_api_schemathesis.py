"""Issue 6, acceptance 2: schemathesis against the live OpenAPI document, every operation.

The schema is loaded from the running Django application (``/api/v1/openapi.json``) and
every request goes through the real middleware, authentication and PostgreSQL. Requests
carry a full-access token; the project in the path is the owner's own project in
``error`` status, so nothing spawns Sprites or sends agent runs, while every operation still
runs its validation, lookup and domain code. (Success paths against a real Sprite are the
end-to-end test's job.) Checks: no 5xx, documented status codes, content types, headers,
and response bodies valid against their schemas; invalid input is rejected with a 4xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import User
from accounts.tokens import create_api_token
from projects.models import Project, Status

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 10
# The project every generated path points at (created by the fixture, with this id).
PROJECT_ID = "fuzzedproject001"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# Loaded at import, from the application itself: the document is built without the database.
# (schemathesis.pytest.from_fixture would be the lazy way, but it breaks on pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
schema.config.update(parameters={"project_id": PROJECT_ID})
schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION)


@pytest.fixture
def token(alice: User) -> Iterator[str]:
    # Like Django's test client: the WSGI handler would otherwise close the connection
    # that holds the test's transaction at every request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    Project.objects.create(
        owner=alice,
        name="Fuzzed",
        public_id=PROJECT_ID,
        status=Status.ERROR,
        status_message="left failed on purpose",
    )
    try:
        yield create_api_token(alice, "schemathesis")[1]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    """Print how many requests were made and what came back (run with -s to see it)."""
    yield
    print(f"\nschemathesis: {sum(STATUSES.values())} requests, statuses {sorted(STATUSES.items())}")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_own_schema(case: Any, token: str) -> None:
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
    STATUSES[response.status_code] += 1
