"""Acceptance: the 31st failed login is refused even when the guesses are spread over two
web processes (two real `python -m starter.web_server` on two ports, sharing Redis)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings

from accounts.models import User
from tests.support.live_stack import LiveStack, launch_live_stack

pytestmark = pytest.mark.django_db(transaction=True)

OPERATOR_PASSWORD = "operator-passphrase-1"
THROTTLED = "Too many failed sign-in attempts"


@pytest.fixture(scope="module")
def two_web_processes(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveStack, LiveStack]]:
    database_name = str(settings.DATABASES["default"]["NAME"])
    stacks: list[LiveStack] = []
    try:
        for name in ("first", "second"):  # started side by side, then waited for
            directory = tmp_path_factory.mktemp(f"web-{name}")
            stacks.append(
                launch_live_stack(
                    database_name,
                    directory,
                    # Failed guesses at one PBKDF2 iteration (the module says why).
                    {"DJANGO_SETTINGS_MODULE": "tests.support.quick_hash_settings"},
                    with_worker=False,
                )
            )
        for stack in stacks:
            stack.wait_serving()
        yield stacks[0], stacks[1]
    finally:
        for stack in stacks:
            stack.stop()


def _post_login(client: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    client.get(path)  # the CSRF cookie
    data = {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"]}
    return client.post(path, data=data)


def _guesses_then_the_right_password(
    processes: tuple[LiveStack, LiveStack], path: str, field: str, email: str
) -> list[httpx.Response]:
    clients = [httpx.Client(base_url=stack.url, timeout=30) for stack in processes]
    try:
        responses = [
            _post_login(clients[attempt % 2], path, {field: email, "password": f"wrong-{attempt}"})
            for attempt in range(settings.STARTER_LOGIN_FAILURE_LIMIT)
        ]
        for client in clients:  # the next attempt is refused on either process
            responses.append(
                _post_login(client, path, {field: email, "password": OPERATOR_PASSWORD})
            )
        return responses
    finally:
        for client in clients:
            client.close()


def test_31st_admin_login_is_refused_across_two_web_processes(
    two_web_processes: tuple[LiveStack, LiveStack],
) -> None:
    assert settings.STARTER_LOGIN_FAILURE_LIMIT == 30
    User.objects.create_superuser("ops@example.com", OPERATOR_PASSWORD)
    started = time.monotonic()
    *guesses, on_first, on_second = _guesses_then_the_right_password(
        two_web_processes, "/admin/login/", "username", "ops@example.com"
    )
    for guess in guesses:
        assert guess.status_code == 200
        assert "Please enter the correct e-mail address and password" in guess.text
        assert THROTTLED not in guess.text
    for refused in (on_first, on_second):
        assert refused.status_code == 200  # the form again, not the admin's index
        assert THROTTLED in refused.text
        # The pause lasts until the first guess leaves the 15-minute window: on a loaded
        # machine the thirty guesses themselves can take over a minute.
        pause = re.search(r"try again in (\d+) minutes", refused.text)
        assert pause is not None, refused.text
        shortest = math.ceil(
            (settings.STARTER_LOGIN_FAILURE_WINDOW - (time.monotonic() - started)) / 60
        )
        assert shortest <= int(pause.group(1)) <= 15


def test_31st_dashboard_login_is_refused_across_two_web_processes(
    two_web_processes: tuple[LiveStack, LiveStack],
) -> None:
    User.objects.create_user("carol@example.com", OPERATOR_PASSWORD)
    *guesses, on_first, on_second = _guesses_then_the_right_password(
        two_web_processes, "/accounts/login/", "login", "carol@example.com"
    )
    for guess in guesses:
        assert guess.status_code == 200
        assert "The email address and/or password you specified are not correct" in guess.text
        assert THROTTLED not in guess.text
    for refused in (on_first, on_second):
        assert refused.status_code == 200
        assert THROTTLED in refused.text
