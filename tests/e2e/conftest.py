from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import Browser

from tests.support.browser import chromium
from tests.support.live_stack import LiveStack, iter_stack

# Playwright's sync API keeps an event loop running in the test thread, which makes Django's
# async-safety check refuse the ORM calls of these tests and of their teardown; the ORM is
# still used from one thread only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def live_stack(django_db_setup: None, django_db_blocker: object,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    database_name = str(settings.DATABASES["default"]["NAME"])
    yield from iter_stack(database_name, tmp_path_factory.mktemp("live-stack"))
    # Killed workers can leave server sessions behind that would block dropping the test DB.
    with django_db_blocker.unblock(), connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = %s AND pid <> pg_backend_pid()", [database_name])


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return tmp_path
