"""Failed logins are limited per account and per IP, on both login forms together.

These run in one process with a small limit; test_login_limits_across_processes.py shows
the real limit holding across two web processes.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from tests.conftest import PASSWORD

LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings: Any) -> None:
    settings.STARTER_LOGIN_FAILURE_LIMIT = LIMIT


def dashboard_login(client: Client, email: str, password: str) -> str:
    response = client.post("/accounts/login/", {"login": email, "password": password})
    return response.content.decode()


def admin_login(client: Client, email: str, password: str) -> str:
    response = client.post("/admin/login/", {"username": email, "password": password})
    return response.content.decode()


def test_dashboard_refuses_the_right_password_after_too_many_failures(
    client: Client, alice: User
) -> None:
    for _ in range(LIMIT):
        page = dashboard_login(client, alice.email, "wrong")
        assert "Too many failed sign-in attempts" not in page
    page = dashboard_login(client, alice.email, PASSWORD)
    assert "Too many failed sign-in attempts" in page
    assert "try again in 15 minutes" in page
    assert "_auth_user_id" not in client.session


def test_admin_refuses_the_right_password_after_too_many_failures(
    client: Client, operator: User
) -> None:
    for _ in range(LIMIT):
        assert "Too many" not in admin_login(client, operator.email, "wrong")
    page = admin_login(client, operator.email, PASSWORD)
    assert "Too many failed sign-in attempts" in page
    assert client.get("/admin/").status_code == 302


def test_failures_on_the_admin_count_for_the_dashboard_too(client: Client, alice: User) -> None:
    for _ in range(LIMIT):
        admin_login(client, alice.email, "wrong")
    assert "Too many failed sign-in attempts" in dashboard_login(client, alice.email, PASSWORD)


def test_the_account_limit_holds_from_another_ip(alice: User) -> None:
    for octet in range(LIMIT):
        dashboard_login(Client(REMOTE_ADDR=f"10.0.0.{octet}"), alice.email, "wrong")
    page = dashboard_login(Client(REMOTE_ADDR="10.0.1.1"), alice.email, PASSWORD)
    assert "Too many failed sign-in attempts" in page


def test_the_ip_limit_holds_for_another_account(client: Client, alice: User, bob: User) -> None:
    for number in range(LIMIT):
        dashboard_login(client, f"guess{number}@example.com", "wrong")
    assert "Too many failed sign-in attempts" in dashboard_login(client, bob.email, PASSWORD)


def test_successful_logins_do_not_count(alice: User, operator: User) -> None:
    for _ in range(LIMIT + 1):
        client = Client()
        admin_login(client, operator.email, PASSWORD)
        assert client.get("/admin/").status_code == 200


def test_a_password_reset_lifts_the_accounts_limit(alice: User, settings: Any) -> None:
    from tests.accounts.test_password_revocation import _reset_password_through_mail

    for octet in range(LIMIT):
        dashboard_login(Client(REMOTE_ADDR=f"10.0.0.{octet}"), alice.email, "wrong")
    _reset_password_through_mail(alice.email, "an-entirely-new-passphrase-77")
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"  # alice's address has no EmailAddress row
    client = Client(REMOTE_ADDR="10.0.2.2")
    response = client.post(
        "/accounts/login/", {"login": alice.email, "password": "an-entirely-new-passphrase-77"}
    )
    assert response.status_code == 302
    assert client.get("/settings/").status_code == 200
