"""What pi in a project's Sprite is told: where each provider is (the gateway) and its key
(the project's gateway token, named as a variable). No provider key, nothing of another user.

pi's ``models.json`` gets one entry per provider the owner can use:

- a custom provider: ``baseUrl`` = ``<gateway>/p/<name>`` (the gateway forwards
  ``<gateway>/p/<name><rest>`` to ``<its real base URL><rest>``, so pi's own paths, such as
  ``/chat/completions`` after a base URL ending in ``/v1``, come out right), its API, its
  models (priced with the owner's prices when set, so pi's meter agrees with the ledger);
- a built-in provider the owner has a key for: only ``baseUrl`` and ``apiKey`` ("a built-in
  provider ID changes that provider"; the base URL "also applies to the provider's built-in
  models"), so its models, compat and prices stay pi's.

Azure has no base URL in pi's table (each deployment has its own): it is left out, and the
settings page says to add an Azure endpoint as a custom provider.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from django.conf import settings

from accounts.models import CustomProvider
from accounts.providers import PROVIDER_ENV_VARS
from bridge_agent.protocol import GATEWAY_PROVIDER_PREFIX, GATEWAY_TOKEN_VARIABLE
from organisations.models import Organisation

# Built-in providers the gateway cannot route: no fixed base URL in pi's model table.
UNROUTED_BUILTIN_PROVIDERS = frozenset({"azure"})
# pi >= 0.77 reads a variable only when written `$NAME`; a bare name is sent as the key.
GATEWAY_API_KEY = "$" + GATEWAY_TOKEN_VARIABLE


def gateway_url() -> str:
    return str(settings.STARTER_GATEWAY_URL).rstrip("/")


def provider_base_url(provider: str) -> str:
    """Where pi sends a provider's calls: the gateway's path for it."""
    return f"{gateway_url()}{GATEWAY_PROVIDER_PREFIX}{provider}"


def routed_builtin_providers(organisation: Organisation) -> list[str]:
    """The built-in providers the organisation has a key for, that go through the gateway.
    (Which providers have a key is read from ``api_keys_set_at``: nothing is decrypted.)"""
    keys = organisation.api_keys_set_at
    return [
        name
        for name in PROVIDER_ENV_VARS
        if keys.get(name) and name not in UNROUTED_BUILTIN_PROVIDERS
    ]


def _per_million(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def _custom_model_cost(provider: CustomProvider) -> dict[str, float] | None:
    """pi's ``cost`` for a custom provider's models, when the owner entered prices (input
    and output at least, as ``gateway.pricing.custom_prices`` requires)."""
    if provider.price_input is None or provider.price_output is None:
        return None
    return {
        "input": _per_million(provider.price_input),
        "output": _per_million(provider.price_output),
        "cacheRead": _per_million(provider.price_cache_read),
        "cacheWrite": _per_million(provider.price_cache_write),
    }


def _custom_entry(provider: CustomProvider) -> dict[str, object]:
    cost = _custom_model_cost(provider)
    models: list[dict[str, object]] = []
    for model_id in provider.model_ids:
        model: dict[str, object] = {
            "id": model_id,
            "name": model_id,
            "contextWindow": 128000,
            "maxTokens": 8192,
        }
        if cost is not None:
            model["cost"] = dict(cost)
        models.append(model)
    entry: dict[str, object] = {
        "baseUrl": provider_base_url(provider.name),
        "api": provider.api,
        "apiKey": GATEWAY_API_KEY,
        "models": models,
    }
    if provider.api == CustomProvider.API_OPENAI:
        # pi guesses these from the URL, which is now the gateway's: say what a generic
        # OpenAI-compatible endpoint takes.
        entry["compat"] = {
            "supportsDeveloperRole": False,
            "supportsReasoningEffort": False,
            "supportsStore": False,
        }
    return entry


def pi_models_document(organisation: Organisation) -> dict[str, object]:
    """pi's models.json for a Sprite of ``organisation``: every provider through the
    gateway."""
    providers: dict[str, object] = {
        name: {"baseUrl": provider_base_url(name), "apiKey": GATEWAY_API_KEY}
        for name in routed_builtin_providers(organisation)
    }
    for provider in CustomProvider.objects.filter(organisation=organisation).order_by("name"):
        providers[provider.name] = _custom_entry(provider)
    return {"providers": providers}


def pi_models_bytes(organisation: Organisation) -> bytes:
    return json.dumps(pi_models_document(organisation), indent=2).encode()


def models_digest(document: bytes) -> str:
    """A short fingerprint of models.json, carried in the bridge's environment: when the
    file changes (a provider added or removed), the variable changes, and the bridge
    restarts pi when its run ends, so it reads the new file."""
    return hashlib.sha256(document).hexdigest()[:16]
