"""A new password shuts out whoever held the account before: their sessions end and every
API token of the account is revoked, with a notice. Real allauth flows, real sessions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from accounts.models import ApiToken, User
from accounts.tokens import create_api_token
from tests.conftest import PASSWORD

NEW_PASSWORD = "an-entirely-new-passphrase-77"
API_PROJECTS = "/api/v1/projects"


def _api_status(raw_token: str) -> int:
    client = Client(headers={"Authorization": f"Bearer {raw_token}"})
    return client.get(API_PROJECTS).status_code


def _token_from_settings_page(client: Client, name: str) -> str:
    page = client.post("/settings/tokens/", {"name": name}).content.decode()
    return page.split("data-new-token>")[1].split("<")[0]


def _link(message: mail.EmailMessage, path_part: str) -> str:
    match = re.search(r"https?://\S+" + re.escape(path_part) + r"\S*", str(message.body))
    assert match, f"no {path_part} link in: {message.body}"
    return match.group(0)


def _reset_password_through_mail(email: str, new_password: str) -> Client:
    """The victim's browser: ask for a reset, follow the mailed link, set a new password."""
    victim = Client()
    mail.outbox.clear()
    response = victim.post("/accounts/password/reset/", {"email": email})
    assert response.status_code == 302
    link = _link(mail.outbox[-1], "/accounts/password/reset/key/")
    set_password_page = victim.get(link)
    assert set_password_page.status_code == 302  # the key moves into the session
    response = victim.post(
        set_password_page["Location"], {"password1": new_password, "password2": new_password}
    )
    assert response.status_code == 302, response.content.decode()
    return victim


def test_pre_registered_address_loses_its_token_and_session_when_the_owner_resets(
    db: None, settings: Any
) -> None:
    # The attack needs an account that was never verified: an install with verification
    # off, or an account from before it was mandatory.
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    attacker = Client()
    response = attacker.post(
        "/accounts/signup/",
        {"email": "victim@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    raw = _token_from_settings_page(attacker, "keep access")
    assert _api_status(raw) == 200
    assert attacker.get("/settings/").status_code == 200

    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    _reset_password_through_mail("victim@example.com", NEW_PASSWORD)

    assert _api_status(raw) == 401
    response = attacker.get("/settings/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    victim = User.objects.get(email="victim@example.com")
    assert not ApiToken.objects.for_user(victim).active().exists()
    notice = next(
        m for m in mail.outbox if m.to == ["victim@example.com"] and "revoked" in m.subject
    )
    assert "revoked 1 API token" in str(notice.body)


def test_password_reset_ends_every_session_of_the_user(alice: User) -> None:
    browsers = [Client(), Client()]
    for browser in browsers:
        browser.force_login(alice)
    _reset_password_through_mail(alice.email, NEW_PASSWORD)
    for browser in browsers:
        # The rows are gone, not merely refused for their stale password hash.
        assert not Session.objects.filter(session_key=browser.session.session_key).exists()
        assert browser.get("/settings/").status_code == 302


def test_password_change_keeps_this_session_ends_the_others_and_revokes_tokens(
    alice: User,
) -> None:
    here, elsewhere = Client(), Client()
    here.force_login(alice)
    elsewhere.force_login(alice)
    _, full = create_api_token(alice, "CI")
    _, agent = create_api_token(alice, "general agent", scope=ApiToken.SCOPE_GENERAL_AGENT)

    response = here.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        follow=True,
    )

    page = response.content.decode()
    assert "signed out 1 other session and revoked 2 API tokens" in page
    assert "create new tokens" in page
    assert here.get("/settings/").status_code == 200
    assert elsewhere.get("/settings/").status_code == 302
    assert _api_status(full) == 401
    assert _api_status(agent) == 401
    assert any("revoked" in message.subject for message in mail.outbox)


def test_password_change_with_nothing_else_to_revoke_says_nothing_more(alice: User) -> None:
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        follow=True,
    )
    assert "revoked" not in response.content.decode()
    assert not any("revoked" in message.subject for message in mail.outbox)


def test_operator_setting_a_password_revokes_that_users_sessions_and_tokens(
    alice: User, operator: User
) -> None:
    alice_browser = Client()
    alice_browser.force_login(alice)
    _, raw = create_api_token(alice, "CI")
    admin = Client()
    admin.force_login(operator)

    response = admin.post(
        f"/admin/accounts/user/{alice.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        follow=True,
    )

    assert response.status_code == 200
    assert "revoked 1 API token" in response.content.decode()
    assert alice_browser.get("/settings/").status_code == 302
    assert _api_status(raw) == 401
    assert admin.get("/admin/").status_code == 200  # the operator's own session is untouched


@pytest.mark.parametrize("scope", [ApiToken.SCOPE_FULL, ApiToken.SCOPE_GENERAL_AGENT])
def test_other_users_tokens_survive_a_reset(alice: User, bob: User, scope: str) -> None:
    _, bobs = create_api_token(bob, "bob's", scope=scope)
    _reset_password_through_mail(alice.email, NEW_PASSWORD)
    assert _api_status(bobs) == 200
