"""Reading and changing a user's settings. Every entry point (page, API, admin) calls these."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from accounts.models import CustomProvider, User, UserSettings
from accounts.providers import PROVIDER_ENV_VARS
from accounts.signals import user_secrets_changed
from bridge_agent.protocol import THINKING_LEVELS

# What the settings page says after a key or a custom provider changed. Keys never enter a
# Sprite: the model gateway reads them at each call. Which providers pi knows is in its
# models.json, rewritten in running projects at once (projects.lifecycle.steps.sync_environment)
# and read by an agent when its current run ends.
KEYS_APPLY_WHEN = (
    "The change applies to every project's next model call; an agent at work sees a"
    " provider added or removed when its current run ends."
)


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


PROVIDER_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


PRICE_FIELDS = ("price_input", "price_output", "price_cache_read", "price_cache_write")
PRICE_LABELS = {
    "price_input": "input",
    "price_output": "output",
    "price_cache_read": "cache read",
    "price_cache_write": "cache write",
}
MAX_PRICE = Decimal("100000")


@dataclass(frozen=True)
class ProviderPrices:
    """US dollars per million tokens; ``None``: unknown (never counted as zero)."""

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    def by_field(self) -> dict[str, Decimal | None]:
        values = (self.input, self.output, self.cache_read, self.cache_write)
        return dict(zip(PRICE_FIELDS, values, strict=True))


def checked_price(label: str, value: object) -> Decimal | None:
    """A price as entered (text, number or empty) as a Decimal, or ``SettingsError``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise SettingsError(f"The {label} price is a number of dollars, e.g. 0.15.") from None
    if not price.is_finite() or price < 0:
        raise SettingsError(f"The {label} price cannot be negative.")
    if price > MAX_PRICE:
        raise SettingsError(f"The {label} price is per million tokens: at most {MAX_PRICE}.")
    return price.quantize(Decimal("0.000001"))


def _dollars(price: Decimal | None) -> str:
    if price is None:
        return "$0"
    text = format(price.normalize(), "f")
    return "$" + text


def price_summary(provider: CustomProvider) -> str:
    """What the settings page says of a custom provider's prices."""
    if provider.price_input is None or provider.price_output is None:
        return "Price unknown: usage counts its tokens but no cost (enter input and output prices)."
    return (
        f"Per million tokens: input {_dollars(provider.price_input)},"
        f" output {_dollars(provider.price_output)},"
        f" cache read {_dollars(provider.price_cache_read)},"
        f" cache write {_dollars(provider.price_cache_write)}."
    )


@transaction.atomic
def save_custom_provider(
    user: User,
    name: str,
    api: str,
    base_url: str,
    model_ids: list[str],
    api_key: str | None,
    prices: ProviderPrices | None = None,
) -> CustomProvider:
    """Add or update a custom provider. `api_key=None` keeps the stored key; `prices=None`
    keeps the stored prices (a ``ProviderPrices`` replaces all four)."""
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
    provider, _ = CustomProvider.objects.get_or_create(
        user=user, name=name, defaults={"api": api, "base_url": base_url}
    )
    provider.api = api
    provider.base_url = base_url
    provider.model_ids = cleaned_ids
    if prices is not None:
        for field, value in prices.by_field().items():
            setattr(provider, field, checked_price(PRICE_LABELS[field], value))
    if api_key is not None and api_key.strip():
        provider.api_key = api_key.strip()
    provider.save()
    _announce_change(user)
    return provider


@transaction.atomic
def remove_custom_provider(user: User, name: str) -> None:
    deleted, _ = CustomProvider.objects.filter(user=user, name=name).delete()
    if not deleted:
        raise SettingsError(f"There is no custom provider named {name!r}.")
    _announce_change(user)
