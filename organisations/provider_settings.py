"""Changing an organisation's provider keys, Sprites token and custom providers. Every entry
point (settings page, REST API, the /api/v1/settings aliases) calls these.

Each change needs the MANAGE ability (admins and owners), is written to the audit log with
names only (a provider's name, never a key), and is announced after commit so the
organisation's live Sprites get their pi models.json rewritten.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import CustomProvider
from accounts.providers import PROVIDER_ENV_VARS
from accounts.user_settings import (
    PRICE_LABELS,
    PROVIDER_NAME_PATTERN,
    ProviderPrices,
    SettingsError,
    checked_price,
)
from organisations import audit
from organisations.access import require, role_of
from organisations.models import AuditAction, Organisation
from organisations.roles import Ability
from organisations.signals import organisation_secrets_changed


def require_manager(organisation: Organisation, actor: object) -> None:
    """404 when ``actor`` is not a member, 403 naming the role when they cannot manage."""
    require(role_of(actor, organisation.pk), Ability.MANAGE, organisation.name)


def _announce_change(organisation: Organisation) -> None:
    organisation_id = organisation.pk
    transaction.on_commit(
        lambda: organisation_secrets_changed.send(
            sender=Organisation, organisation_id=organisation_id
        )
    )


def _locked(organisation: Organisation) -> Organisation:
    return Organisation.objects.select_for_update().get(pk=organisation.pk)


@transaction.atomic
def set_api_key(organisation: Organisation, actor: object, provider: str, key: str) -> None:
    require_manager(organisation, actor)
    key = key.strip()
    if provider not in PROVIDER_ENV_VARS:
        raise SettingsError(f"Unknown provider {provider!r}.")
    if not key:
        raise SettingsError("Paste the API key; it cannot be empty.")
    if len(key) > 4096 or any(ch.isspace() for ch in key):
        raise SettingsError(
            "That does not look like an API key (no spaces, at most 4096 characters)."
        )
    row = _locked(organisation)
    row.set_api_key(provider, key)
    row.save(update_fields=["api_keys", "api_keys_set_at", "updated_at"])
    organisation.api_keys_set_at = row.api_keys_set_at
    audit.record(organisation.pk, actor, AuditAction.KEY_SET, provider, provider=provider)
    _announce_change(organisation)


@transaction.atomic
def remove_api_key(organisation: Organisation, actor: object, provider: str) -> None:
    require_manager(organisation, actor)
    row = _locked(organisation)
    if provider not in row.api_keys_set_at:
        raise SettingsError(f"No key is set for {provider!r}.")
    row.remove_api_key(provider)
    row.save(update_fields=["api_keys", "api_keys_set_at", "updated_at"])
    organisation.api_keys_set_at = row.api_keys_set_at
    audit.record(organisation.pk, actor, AuditAction.KEY_REMOVED, provider, provider=provider)
    _announce_change(organisation)


@transaction.atomic
def set_sprites_token(organisation: Organisation, actor: object, token: str) -> None:
    require_manager(organisation, actor)
    token = token.strip()
    if not token:
        raise SettingsError("Paste the Sprites token; it cannot be empty.")
    if len(token) > 4096 or any(ch.isspace() for ch in token):
        raise SettingsError("That does not look like a Sprites token.")
    row = _locked(organisation)
    row.sprites_token = token
    row.sprites_token_set_at = timezone.now()
    row.save(update_fields=["sprites_token", "sprites_token_set_at", "updated_at"])
    organisation.sprites_token_set_at = row.sprites_token_set_at
    audit.record(organisation.pk, actor, AuditAction.SPRITES_TOKEN_SET, "Sprites token")
    _announce_change(organisation)


@transaction.atomic
def clear_sprites_token(organisation: Organisation, actor: object) -> None:
    require_manager(organisation, actor)
    row = _locked(organisation)
    was_set = bool(row.sprites_token)
    row.sprites_token = ""
    row.sprites_token_set_at = None
    row.save(update_fields=["sprites_token", "sprites_token_set_at", "updated_at"])
    organisation.sprites_token_set_at = None
    if was_set:
        audit.record(organisation.pk, actor, AuditAction.SPRITES_TOKEN_CLEARED, "Sprites token")
    _announce_change(organisation)


def custom_providers_of(organisation: Organisation) -> list[CustomProvider]:
    return list(CustomProvider.objects.filter(organisation=organisation).order_by("name"))


@transaction.atomic
def save_custom_provider(
    organisation: Organisation,
    actor: object,
    name: str,
    api: str,
    base_url: str,
    model_ids: list[str],
    api_key: str | None,
    prices: ProviderPrices | None = None,
) -> CustomProvider:
    """Add or update a custom provider. `api_key=None` keeps the stored key; `prices=None`
    keeps the stored prices (a ``ProviderPrices`` replaces all four)."""
    require_manager(organisation, actor)
    name = name.strip().lower()
    if not PROVIDER_NAME_PATTERN.match(name):
        raise SettingsError(
            "A provider name is lower-case letters, digits and dashes, e.g. 'my-ollama'."
        )
    if name in PROVIDER_ENV_VARS:
        raise SettingsError(f"{name!r} is a built-in provider; choose another name.")
    if api not in {CustomProvider.API_OPENAI, CustomProvider.API_ANTHROPIC}:
        raise SettingsError("Choose the API the endpoint speaks.")
    base_url = base_url.strip().rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise SettingsError("The base URL starts with http:// or https://.")
    cleaned_ids = [model_id.strip() for model_id in model_ids if model_id.strip()]
    if not cleaned_ids:
        raise SettingsError("List at least one model id.")
    if any(len(model_id) > 200 or " " in model_id for model_id in cleaned_ids):
        raise SettingsError("Model ids have no spaces and at most 200 characters.")
    provider, created = CustomProvider.objects.get_or_create(
        organisation=organisation,
        name=name,
        defaults={"api": api, "base_url": base_url, "user_id": getattr(actor, "pk", None)},
    )
    provider.api = api
    provider.base_url = base_url
    provider.model_ids = cleaned_ids
    if prices is not None:
        for field, value in prices.by_field().items():
            setattr(provider, field, checked_price(PRICE_LABELS[field], value))
    key_changed = api_key is not None and bool(api_key.strip())
    if api_key is not None and api_key.strip():
        provider.api_key = api_key.strip()
    provider.save()
    audit.record(
        organisation.pk,
        actor,
        AuditAction.CUSTOM_PROVIDER_SAVED,
        name,
        created=created,
        key_changed=key_changed,
    )
    _announce_change(organisation)
    return provider


@transaction.atomic
def remove_custom_provider(organisation: Organisation, actor: object, name: str) -> None:
    require_manager(organisation, actor)
    deleted, _ = CustomProvider.objects.filter(organisation=organisation, name=name).delete()
    if not deleted:
        raise SettingsError(f"There is no custom provider named {name!r}.")
    audit.record(organisation.pk, actor, AuditAction.CUSTOM_PROVIDER_REMOVED, name)
    _announce_change(organisation)
