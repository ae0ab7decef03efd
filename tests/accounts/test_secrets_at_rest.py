from __future__ import annotations

from django.db import connection
from django.test import Client

from accounts.models import User
from organisations import provider_settings
from organisations.models import Organisation
from organisations.personal import personal_organisation_of
from projects.models import Project
from projects.secrets import set_project_secret

API_KEY = "sk-ant-THIS-IS-THE-REAL-KEY-123456"


def _raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_stored_api_key_column_does_not_contain_the_key(alice: User) -> None:
    provider_settings.set_api_key(personal_organisation_of(alice), alice, "anthropic", API_KEY)
    stored = Organisation.objects.get(personal_of=alice)
    raw = _raw_column("organisations_organisation", "api_keys", stored.pk)
    assert API_KEY not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert stored.api_key_map() == {"anthropic": API_KEY}


def test_sprites_token_and_project_secret_are_encrypted(
    alice: User, alice_project: Project
) -> None:
    provider_settings.set_sprites_token(
        personal_organisation_of(alice), alice, "org/123/very-secret-sprites-token"
    )
    secret = set_project_secret(alice_project, "STRIPE_KEY", "sk_live_supersecret")
    organisation = Organisation.objects.get(personal_of=alice)
    assert organisation.sprites_token == "org/123/very-secret-sprites-token"
    assert "very-secret" not in _raw_column(
        "organisations_organisation", "sprites_token", organisation.pk
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

    provider_settings.set_api_key(personal_organisation_of(alice), alice, "openai", API_KEY)
    old_keys = list(settings.ENCRYPTION_KEYS)  # type: ignore[attr-defined]
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *old_keys]  # type: ignore[attr-defined]
    call_command("rotate_encryption_keys")
    settings.ENCRYPTION_KEYS = [new_key]  # type: ignore[attr-defined]
    crypto._cipher.cache_clear()
    assert Organisation.objects.get(personal_of=alice).api_key_map() == {"openai": API_KEY}
