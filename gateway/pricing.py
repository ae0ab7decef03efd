"""What a call cost: pi's prices for built-in models, the user's for custom providers.

A model without a price gives ``None`` ("price unknown"), never zero.
"""

from __future__ import annotations

from decimal import Decimal

from accounts.model_catalog import pi_registry
from accounts.models import CustomProvider
from gateway.calls import Prices, Usage


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))


def builtin_prices(provider: str, model: str) -> Prices | None:
    for option in pi_registry().get(provider, []):
        if option.id == model and option.cost is not None:
            cost = option.cost
            return Prices(
                _decimal(cost.input),
                _decimal(cost.output),
                _decimal(cost.cache_read),
                _decimal(cost.cache_write),
            )
    return None


def custom_prices(provider: CustomProvider) -> Prices | None:
    """A custom provider's prices, when its organisation entered at least input and output."""
    if provider.price_input is None or provider.price_output is None:
        return None
    return Prices(
        provider.price_input,
        provider.price_output,
        provider.price_cache_read or Decimal("0"),
        provider.price_cache_write or Decimal("0"),
    )


def prices_for(organisation_id: int, provider: str, model: str) -> Prices | None:
    custom = CustomProvider.objects.filter(organisation_id=organisation_id, name=provider).first()
    if custom is not None:
        return custom_prices(custom)
    return builtin_prices(provider, model)


def cost_of(usage: Usage, prices: Prices | None) -> Decimal | None:
    return None if prices is None else prices.cost_of(usage)
