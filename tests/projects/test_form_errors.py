"""Bad input to every form gets a clear message and a 4xx, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from projects.models import Project

CASES = [
    # (url template, data, message expected on the page)
    ("/", {"name": ""}, "Give the project a name."),
    ("/", {"name": "   "}, "Give the project a name."),
    ("/", {"name": "x" * 101}, "at most 100 characters"),
    ("/", {"name": "ok", "description": "d" * 2001}, "at most 2000 characters"),
    ("/p/{id}/rename/", {"name": ""}, "Give the project a name."),
    ("/p/{id}/delete/", {"confirm_name": "wrong"}, "Type the project"),
    ("/p/{id}/secrets/", {"name": "lower-case", "value": "v"}, "environment variable name"),
    ("/p/{id}/secrets/", {"name": "STARTER_TOKEN", "value": "v"}, "reserved by the platform"),
    ("/p/{id}/secrets/", {"name": "GOOD_NAME", "value": ""}, "A secret needs a value."),
    ("/p/{id}/secrets/NOPE/remove/", {}, "There is no secret named NOPE."),
    ("/settings/defaults/", {"default_thinking_level": "galaxy-brain"}, "Select a valid choice"),
    (
        "/settings/defaults/",
        {"default_provider": "a/b", "default_thinking_level": "off"},
        "no slashes or spaces",
    ),
    (
        "/settings/defaults/",
        {"default_model": "gpt", "default_thinking_level": "off"},
        "Choose the provider",
    ),
    (
        "/settings/api-keys/",
        {"provider": "nonexistent", "key": "k"},
        "Choose a provider from the list.",
    ),
    ("/settings/api-keys/", {"provider": "openai", "key": ""}, "Paste the API key"),
    (
        "/settings/api-keys/",
        {"provider": "openai", "key": "has space"},
        "does not look like an API key",
    ),
    ("/settings/api-keys/openai/remove/", {}, "No key is set for"),
    ("/settings/sprites-token/", {"token": ""}, "Paste the Sprites token"),
    ("/settings/tokens/", {"name": ""}, "Name the token"),
]


@pytest.mark.parametrize(("url", "data", "message"), CASES)
def test_bad_input_gets_a_clear_message(
    url: str, data: dict[str, str], message: str, alice_client: Client, alice_project: Project
) -> None:
    response = alice_client.post(url.format(id=alice_project.public_id), data, follow=True)
    assert response.status_code < 500
    body = response.content.decode().replace("&#x27;", "'")
    assert message in body, body[:2000]


def test_signup_with_mismatched_passwords_is_refused(client: Client, db: None) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.com",
            "password1": "a-long-passphrase-1",
            "password2": "different-passphrase-2",
        },
    )
    assert response.status_code == 200
    assert "You must type the same password each time." in response.content.decode()


def test_signup_with_bad_email_is_refused(client: Client, db: None) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "not-an-email",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert "Enter a valid email address." in response.content.decode()
