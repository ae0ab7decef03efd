"""Reading and changing a user's personal settings (default provider, model and thinking
level), and the input rules organisations.provider_settings shares (prices, names).

Provider keys, the Sprites token and custom providers belong to an organisation: see
organisations.provider_settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from accounts.models import CustomProvider, User, UserSettings
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
