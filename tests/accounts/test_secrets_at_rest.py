from __future__ import annotations

from django.db import connection
from django.test import Client

from accounts import user_settings
from accounts.models import User, UserSettings
from projects.models import Project
from projects.secrets import set_project_secret

API_KEY = "sk-ant-THIS-IS-THE-REAL-KEY-123456"


def _raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_stored_api_key_column_does_not_contain_the_key(alice: User) -> None:
    user_settings.set_api_key(alice, "anthropic", API_KEY)
    stored = UserSettings.objects.get(user=alice)
    raw = _raw_column("accounts_usersettings", "api_keys", stored.pk)
    assert API_KEY not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert stored.api_key_map() == {"anthropic": API_KEY}


def test_sprites_token_and_project_secret_are_encrypted(
    alice: User, alice_project: Project
) -> None:
    user_settings.set_sprites_token(alice, "org/123/very-secret-sprites-token")
    secret = set_project_secret(alice_project, "STRIPE_KEY", "sk_live_supersecret")
    settings_row = UserSettings.objects.get(user=alice)
    assert "very-secret" not in _raw_column(
        "accounts_usersettings", "sprites_token", settings_row.pk
    )
    assert "supersecret" not in _raw_column("projects_projectsecret", "value", secret.pk)


def test_settings_page_never_shows_a_saved_key(alice_client: Client, alice: User) -> None:
    response = alice_client.post("/settings/api-keys/", {"provider": "anthropic", "key": API_KEY})
    assert response.status_code == 302
    page = alice_client.get("/settings/").content.decode()
    assert API_KEY not in page
    assert "Key set" in page


def test_key_rotation_reencrypts_under_the_new_key(alice: User, settings: object) -> None:
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from accounts import crypto

    user_settings.set_api_key(alice, "openai", API_KEY)
    old_keys = list(settings.ENCRYPTION_KEYS)  # type: ignore[attr-defined]
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *old_keys]  # type: ignore[attr-defined]
    call_command("rotate_encryption_keys")
    settings.ENCRYPTION_KEYS = [new_key]  # type: ignore[attr-defined]
    crypto._cipher.cache_clear()
    assert UserSettings.objects.get(user=alice).api_key_map() == {"openai": API_KEY}
