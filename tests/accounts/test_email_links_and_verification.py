"""Sign-up needs a verified address, and every link Starter mails starts with the site URL,
whatever Host the request that caused the mail claimed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from tests.conftest import PASSWORD

SITE = "https://starter.example.com"


@pytest.fixture
def site_behind_any_host(settings: Any) -> None:
    # Even where ALLOWED_HOSTS lets any Host through, the links must not follow it.
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = SITE


def _links(message: mail.EmailMessage) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", str(message.body))


def test_password_reset_link_uses_the_site_url_not_the_host_header(
    db: None, alice: User, site_behind_any_host: None
) -> None:
    Client().post(
        "/accounts/password/reset/", {"email": alice.email}, headers={"host": "evil.example"}
    )
    message = mail.outbox[-1]
    links = _links(message)
    assert any(link.startswith(SITE + "/accounts/password/reset/key/") for link in links)
    assert "evil.example" not in str(message.body) + str(message.subject)


def test_unknown_account_mail_links_to_the_site_url(db: None, site_behind_any_host: None) -> None:
    Client().post(
        "/accounts/password/reset/",
        {"email": "nobody@example.com"},
        headers={"host": "evil.example"},
    )
    message = mail.outbox[-1]
    assert _links(message), message.body
    assert all(link.startswith(SITE + "/") for link in _links(message))
    assert "evil.example" not in str(message.body)


def test_signup_sends_a_verification_link_on_the_site_url_and_does_not_log_in(
    db: None, site_behind_any_host: None
) -> None:
    browser = Client()
    response = browser.post(
        "/accounts/signup/",
        {"email": "dave@example.com", "password1": PASSWORD, "password2": PASSWORD},
        headers={"host": "evil.example"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert browser.get("/settings/").status_code == 302  # not logged in
    message = mail.outbox[-1]
    assert message.to == ["dave@example.com"]
    [link] = [link for link in _links(message) if "/accounts/confirm-email/" in link]
    assert link.startswith(SITE + "/accounts/confirm-email/")
    assert "evil.example" not in str(message.body)


def test_following_the_verification_link_logs_the_new_user_in(db: None) -> None:
    browser = Client()
    browser.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    [link] = [link for link in _links(mail.outbox[-1]) if "/accounts/confirm-email/" in link]
    path = "/" + link.split("/", 3)[3]
    assert browser.get(path).status_code == 200  # a page with a button: no change on GET
    assert browser.get("/settings/").status_code == 302
    response = browser.post(path)
    assert response.status_code == 302
    assert browser.get("/settings/").status_code == 200


def test_an_unverified_account_cannot_log_in(db: None) -> None:
    Client().post(
        "/accounts/signup/",
        {"email": "frank@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    browser = Client()
    response = browser.post(
        "/accounts/login/", {"login": "frank@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert browser.get("/settings/").status_code == 302
