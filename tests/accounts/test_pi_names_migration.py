"""Migration accounts 0004: pi 1.0.3 renamed the provider ``azure-openai-responses`` to
``azure``; stored keys, their dates and defaults move to the new id so a user's Azure key
keeps reaching pi (as AZURE_OPENAI_API_KEY) after the upgrade."""

from __future__ import annotations

from importlib import import_module
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from accounts.models import User, UserSettings
from accounts.providers import PROVIDER_ENV_VARS
from accounts.user_settings import settings_for, update_defaults

migration = import_module("accounts.migrations.0004_pi_1_6_names")
OLD, NEW = "azure-openai-responses", "azure"


def historical_apps() -> Any:
    """The models as the migration sees them (what `migrate` hands its RunPython)."""
    loader = MigrationLoader(connection)
    return loader.project_state(("accounts", "0004_pi_1_6_names")).apps


def stored(user: User) -> tuple[dict[str, str], dict[str, str], str, str]:
    row = UserSettings.objects.get(user=user)
    return row.api_key_map(), dict(row.api_keys_set_at), row.default_provider, row.default_model


def with_keys(user: User, keys: dict[str, str], provider: str, model: str) -> None:
    row = settings_for(user)
    for name, key in keys.items():
        row.set_api_key(name, key)
    row.default_provider, row.default_model = provider, model
    row.save()


def test_azure_keys_dates_and_defaults_move_to_the_new_id(alice: User, bob: User) -> None:
    with_keys(alice, {OLD: "az-secret-1", "openai": "sk-openai-2"}, OLD, "gpt-5-azure")
    _, dates_before, _, _ = stored(alice)
    with_keys(bob, {"anthropic": "sk-ant-3"}, "anthropic", "claude")
    bob_before = stored(bob)

    migration.rename_provider(historical_apps(), None)

    keys, dates, provider, model = stored(alice)
    assert keys == {NEW: "az-secret-1", "openai": "sk-openai-2"}
    assert dates == {NEW: dates_before[OLD], "openai": dates_before["openai"]}
    assert (provider, model) == (NEW, "gpt-5-azure")
    assert NEW in PROVIDER_ENV_VARS and OLD not in PROVIDER_ENV_VARS  # a provider pi knows
    assert stored(bob) == bob_before


def test_a_default_without_a_key_moves_too_and_running_twice_changes_nothing(
    alice: User,
) -> None:
    with_keys(alice, {}, OLD, "")
    migration.rename_provider(historical_apps(), None)
    assert stored(alice) == ({}, {}, NEW, "")
    assert UserSettings.objects.get(user=alice).api_keys == ""
    migration.rename_provider(historical_apps(), None)
    assert stored(alice) == ({}, {}, NEW, "")


def test_migrating_back_restores_the_old_id(alice: User) -> None:
    with_keys(alice, {OLD: "az-secret-1"}, OLD, "gpt-5-azure")
    before = stored(alice)
    migration.rename_provider(historical_apps(), None)
    migration.rename_back(historical_apps(), None)
    assert stored(alice) == before


def test_the_thinking_level_max_is_stored_and_the_migrations_match_the_models(
    alice: User,
) -> None:
    update_defaults(alice, NEW, "gpt-5-azure", "max")
    row = UserSettings.objects.get(user=alice)
    row.full_clean()
    assert row.default_thinking_level == "max"
    out = StringIO()
    call_command("makemigrations", "accounts", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
