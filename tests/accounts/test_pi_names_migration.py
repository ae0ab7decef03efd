"""Migration accounts 0004: pi 1.0.3 renamed the provider ``azure-openai-responses`` to
``azure``; stored keys, their dates and defaults move to the new id so a user's Azure key
keeps reaching pi (as AZURE_OPENAI_API_KEY) after the upgrade."""

from __future__ import annotations

import json
from importlib import import_module
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import User, UserSettings
from accounts.providers import PROVIDER_ENV_VARS
from accounts.user_settings import update_defaults
from organisations.models import Organisation
from tests.support.migrations import migrate_to, migrate_to_latest

migration = import_module("accounts.migrations.0004_pi_1_6_names")
OLD, NEW = "azure-openai-responses", "azure"


# Keys left UserSettings for organisations (accounts 0008): the rename is checked on the
# tables as they were then (the state just before organisations), through the historical
# models, then the database is brought back to the latest.
BEFORE_ORGANISATIONS = [
    ("accounts", "0005_custom_provider_prices"),
    ("projects", "0004_project_next_job_at"),
    ("gateway", "0001_initial"),
    ("organisations", None),
]


def stored(apps: Any, email: str) -> tuple[dict[str, str], dict[str, str], str, str]:
    row = apps.get_model("accounts", "UserSettings").objects.get(user__email=email)
    keys = dict(json.loads(row.api_keys)) if row.api_keys else {}
    return keys, dict(row.api_keys_set_at), row.default_provider, row.default_model


def with_keys(apps: Any, email: str, keys: dict[str, str], provider: str, model: str) -> None:
    user = apps.get_model("accounts", "User").objects.create(email=email, password="!")
    apps.get_model("accounts", "UserSettings").objects.create(
        user=user,
        api_keys=json.dumps(keys) if keys else "",
        api_keys_set_at={name: f"2026-01-0{i + 1}T00:00:00+00:00" for i, name in enumerate(keys)},
        default_provider=provider,
        default_model=model,
    )


@pytest.mark.django_db(transaction=True)
def test_azure_keys_dates_and_defaults_move_to_the_new_id_and_back() -> None:
    try:
        apps = migrate_to(BEFORE_ORGANISATIONS)
        with_keys(apps, "ada@x.com", {OLD: "az-secret-1", "openai": "sk-openai-2"}, OLD, "gpt-5-az")
        _, dates_before, _, _ = stored(apps, "ada@x.com")
        with_keys(apps, "bea@x.com", {"anthropic": "sk-ant-3"}, "anthropic", "claude")
        bea_before = stored(apps, "bea@x.com")
        with_keys(apps, "cy@x.com", {}, OLD, "")  # a default without a key moves too

        migration.rename_provider(apps, None)

        keys, dates, provider, model = stored(apps, "ada@x.com")
        assert keys == {NEW: "az-secret-1", "openai": "sk-openai-2"}
        assert dates == {NEW: dates_before[OLD], "openai": dates_before["openai"]}
        assert (provider, model) == (NEW, "gpt-5-az")
        assert NEW in PROVIDER_ENV_VARS and OLD not in PROVIDER_ENV_VARS  # a provider pi knows
        assert stored(apps, "bea@x.com") == bea_before
        assert stored(apps, "cy@x.com") == ({}, {}, NEW, "")
        migration.rename_provider(apps, None)  # running twice changes nothing
        assert stored(apps, "cy@x.com") == ({}, {}, NEW, "")

        migration.rename_back(apps, None)
        assert stored(apps, "ada@x.com")[0] == {OLD: "az-secret-1", "openai": "sk-openai-2"}
        migration.rename_provider(apps, None)

        migrate_to_latest()  # the renamed key reaches the personal organisation
        ada = Organisation.objects.get(personal_of__email="ada@x.com")
        assert ada.api_key_map() == {NEW: "az-secret-1", "openai": "sk-openai-2"}
    finally:
        migrate_to_latest()


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
