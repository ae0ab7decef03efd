"""Reading and changing a user's settings. Every entry point (page, API, admin) calls these."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import THINKING_LEVELS, User, UserSettings
from accounts.providers import PROVIDER_ENV_VARS
from accounts.signals import user_secrets_changed


class SettingsError(ValueError):
    """Bad input to a settings change; the message is shown to the user."""


def settings_for(user: User) -> UserSettings:
    user_settings, _ = UserSettings.objects.get_or_create(user=user)
    return user_settings


def update_defaults(user: User, provider: str, model: str, thinking_level: str) -> UserSettings:
    provider = provider.strip()
    model = model.strip()
    if thinking_level not in THINKING_LEVELS:
        raise SettingsError(f"Thinking level must be one of: {', '.join(THINKING_LEVELS)}.")
    if "/" in provider or " " in provider:
        raise SettingsError("A provider name has no slashes or spaces, e.g. 'anthropic'.")
    if model and not provider:
        raise SettingsError("Choose the provider of the default model too.")
    user_settings = settings_for(user)
    user_settings.default_provider = provider
    user_settings.default_model = model
    user_settings.default_thinking_level = thinking_level
    user_settings.save(
        update_fields=["default_provider", "default_model", "default_thinking_level", "updated_at"]
    )
    return user_settings


def _announce_change(user: User) -> None:
    transaction.on_commit(lambda: user_secrets_changed.send(sender=UserSettings, user=user))


@transaction.atomic
def set_api_key(user: User, provider: str, key: str) -> None:
    key = key.strip()
    if provider not in PROVIDER_ENV_VARS:
        raise SettingsError(f"Unknown provider {provider!r}.")
    if not key:
        raise SettingsError("Paste the API key; it cannot be empty.")
    if len(key) > 4096 or any(ch.isspace() for ch in key):
        raise SettingsError(
            "That does not look like an API key (no spaces, at most 4096 characters)."
        )
    user_settings = UserSettings.objects.select_for_update().get(pk=settings_for(user).pk)
    user_settings.set_api_key(provider, key)
    user_settings.save(update_fields=["api_keys", "api_keys_set_at", "updated_at"])
    _announce_change(user)


@transaction.atomic
def remove_api_key(user: User, provider: str) -> None:
    user_settings = UserSettings.objects.select_for_update().get(pk=settings_for(user).pk)
    if provider not in user_settings.api_keys_set_at:
        raise SettingsError(f"No key is set for {provider!r}.")
    user_settings.remove_api_key(provider)
    user_settings.save(update_fields=["api_keys", "api_keys_set_at", "updated_at"])
    _announce_change(user)


@transaction.atomic
def set_sprites_token(user: User, token: str) -> None:
    token = token.strip()
    if not token:
        raise SettingsError("Paste the Sprites token; it cannot be empty.")
    if len(token) > 4096 or any(ch.isspace() for ch in token):
        raise SettingsError("That does not look like a Sprites token.")
    user_settings = settings_for(user)
    user_settings.sprites_token = token
    user_settings.sprites_token_set_at = timezone.now()
    user_settings.save(update_fields=["sprites_token", "sprites_token_set_at", "updated_at"])
    _announce_change(user)


@transaction.atomic
def clear_sprites_token(user: User) -> None:
    user_settings = settings_for(user)
    user_settings.sprites_token = ""
    user_settings.sprites_token_set_at = None
    user_settings.save(update_fields=["sprites_token", "sprites_token_set_at", "updated_at"])
    _announce_change(user)
