from __future__ import annotations

import os

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return tmp_path
