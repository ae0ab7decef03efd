"""Fixtures shared by every Django-side test: people with different relations to a project.

Like healthchecks' hc/test.py: an owner (alice), an outsider (bob) and an operator.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.db import connection
from django.test import Client
from playwright.sync_api import Browser

from accounts.models import User
from projects.models import Project, Status
from tests.support.browser import chromium
from tests.support.live_stack import LiveStack, iter_stack

PASSWORD = "correct-horse-battery-staple"

# Several test runs may share this machine's PostgreSQL and Redis (developers running
# suites side by side): each run gets its own test database, Celery queue and Redis key
# prefix, so their live workers never pick up each other's tasks.
RUN_ID = f"{os.getpid()}"


def _reserve_model_server_ports(count: int = 60) -> str:
    """A range of free loopback ports for the scripted model servers of this run. Sandboxed
    Sprites reach nothing of this machine but the ports in STARTER_SPRITE_LOOPBACK_PORTS,
    so the run puts its model servers there (the live stacks inherit the variable)."""
    import random
    import socket

    for _ in range(200):
        first = random.randrange(20000, 30000)
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return f"{first}-{first + count - 1}"
    raise RuntimeError("no free range of loopback ports for the model servers")


os.environ.setdefault("STARTER_SPRITE_LOOPBACK_PORTS", _reserve_model_server_ports())


def _use_the_quick_password_hasher() -> None:
    """The test process hashes passwords at one PBKDF2 iteration (tests/support/hashers.py
    says why and what stays real). Set before any test runs; Django caches its hashers."""
    from django.contrib.auth import hashers

    settings.PASSWORD_HASHERS = ["tests.support.hashers.OneIterationPBKDF2PasswordHasher"]
    hashers.get_hashers.cache_clear()
    hashers.get_hashers_by_algorithm.cache_clear()


_use_the_quick_password_hasher()


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    from django.conf import settings

    base = settings.DATABASES["default"]["TEST"].get("NAME") or "test_starter"
    settings.DATABASES["default"]["TEST"]["NAME"] = f"{base}_{RUN_ID}"


@pytest.fixture(scope="session", autouse=True)
def isolated_task_queue() -> Iterator[str]:
    from django.conf import settings

    from starter.celery import app
    from starter.env import port_list

    settings.STARTER_SPRITE_LOOPBACK_PORTS = port_list(os.environ["STARTER_SPRITE_LOOPBACK_PORTS"])
    queue = f"tests-{RUN_ID}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue  # inherited by the live stack's worker
    os.environ["STARTER_REDIS_PREFIX"] = f"test{RUN_ID}"
    settings.STARTER_REDIS_PREFIX = f"test{RUN_ID}"
    # Django's cache lives in Redis too (allauth's rate limits): same per-run prefix.
    settings.CACHES["default"]["KEY_PREFIX"] = f"test{RUN_ID}"
    # And the channel layer's groups: parallel workers stream the same project ids.
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"test{RUN_ID}:asgi"
    channel_layers.backends.clear()
    app.conf.task_default_queue = queue
    yield queue


@pytest.fixture
def sprite_data_dir() -> Iterator[Path]:
    """A data dir for local Sprites outside pytest's temporary directory, which is closed
    to other users: strict Sprites run as uids of their own that must reach their homes."""
    directory = Path(tempfile.mkdtemp(prefix=f"starter-data-{RUN_ID}-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice@example.com", PASSWORD)


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob@example.com", PASSWORD)


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_superuser("ops@example.com", PASSWORD)


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def alice_project(alice: User) -> Project:
    return Project.objects.create(
        owner=alice, name="Sales dashboard", status=Status.RUNNING, sprite_name="starter-test"
    )


@pytest.fixture(scope="session")
def live_stack(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    database_name = str(settings.DATABASES["default"]["NAME"])
    # Not under pytest's temporary directory: sandboxed Sprites run as uids of their own,
    # which must pass through the data dir's parents to their homes, and pytest keeps
    # /tmp/pytest-of-<user> closed to other users.
    data_dir = Path(tempfile.mkdtemp(prefix=f"starter-live-{RUN_ID}-"))
    try:
        yield from iter_stack(database_name, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    # Killed workers can leave server sessions behind that would block dropping the test DB.
    with django_db_blocker.unblock(), connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [database_name],
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module.

    Playwright's sync API keeps an event loop running in the test thread while it is open.
    That makes Django's async-safety check refuse the ORM calls of browser tests (the ORM
    is still used from one thread only), and it would break every asyncio test after it,
    so the browser lives for one module and the allowance ends with it.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with chromium() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests get up to two reruns.

    They drive a real chromium against real daphne, Celery, bridges and pi on a shared
    2-CPU machine, and some of their waits on live updates (a status badge, a progress
    step) occasionally miss under load (about 1 run in 10 when run alone, more while
    other suites run). A rerun shows as RERUN in the report; a behaviour that is really
    broken still fails all three times.
    """
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=2))
        _name_the_operation(item)


def _name_the_operation(item: pytest.Item) -> None:
    """schemathesis names its items by API operation but gives them all the test's node id
    (schemathesis 4.32 on pytest 9). pytest-xdist's per-file scheduling keys work by node id,
    so it ran one operation of the 98 and reported one pass; the operation joins the id."""
    label = getattr(item, "operation_label", None)
    if label and item._id.params is None:  # pytest 9's structured id; nothing public sets it
        item._id = item._id.with_params(label)


def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """A worker's collection with a node id twice would lose tests silently (above)."""
    repeated = sorted({nodeid for nodeid in ids if ids.count(nodeid) > 1})
    if repeated:
        raise pytest.UsageError(
            f"{len(repeated)} test ids are collected more than once and parallel workers would "
            f"run only one of each: {repeated[:5]}"
        )
