"""Where a provider really is, and how it takes its key.

A name in the gateway's path (``/p/<provider>``) is first one of the project owner's custom
providers (their base URL, API and key, as entered on the settings page), else a built-in
provider of pi for which the owner has a key. A built-in provider's real base URL and API
come from pi's model table per model (OpenRouter and Fireworks serve Anthropic-shaped models
on one base and OpenAI-shaped ones on another), else from the provider's most common base.

``STARTER_GATEWAY_UPSTREAMS`` (``{provider: url}``) moves a built-in provider: its scheme,
host and port (plus any path prefix in ``url``) replace the real ones, while the real base
URL's path is kept, so every base of a mixed provider moves together (tests; an operator's
company proxy that mirrors the provider's paths).

Runs in a worker thread (ORM, and pi's table is read with node on first use).
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

from django.conf import settings

from accounts.model_catalog import pi_registry
from accounts.models import CustomProvider
from accounts.providers import PROVIDER_ENV_VARS, PROVIDER_LABELS
from gateway.calls import Refusal, Upstream
from organisations.models import Organisation

# The header each API shape takes its key in; every other shape: Authorization: Bearer.
KEY_HEADERS: dict[str, str] = {
    "anthropic-messages": "x-api-key",
    "google-generative-ai": "x-goog-api-key",
    "azure-openai-responses": "api-key",
}


def key_header(api: str, key: str) -> tuple[bytes, bytes]:
    """The header that carries ``key`` to an upstream of shape ``api``."""
    name = KEY_HEADERS.get(api)
    if name is None:
        return b"authorization", b"Bearer " + key.encode("latin-1", "replace")
    return name.encode(), key.encode("latin-1", "replace")


def moved(base_url: str, override: str) -> str:
    """``base_url`` with its scheme, host and port replaced by ``override``'s (and
    ``override``'s path put before its own)."""
    return override.rstrip("/") + urlsplit(base_url).path.rstrip("/")


def builtin_base(provider: str, model: str) -> tuple[str, str] | None:
    """(base URL, API) of a built-in provider's ``model``, else the provider's most common
    pair; None when pi's table has no base URL for it (Azure: a per-resource URL)."""
    options = [m for m in pi_registry().get(provider, []) if m.base_url]
    for option in options:
        if option.id == model:
            return option.base_url, option.api
    common = Counter((m.base_url, m.api) for m in options).most_common(1)
    return common[0][0] if common else None


def upstream_for(organisation: Organisation, provider: str, model: str) -> Upstream | Refusal:
    """Where ``organisation``'s calls to ``provider`` (for ``model``, "" when unknown) really
    go, with the organisation's key."""
    custom = CustomProvider.objects.filter(organisation=organisation, name=provider).first()
    if custom is not None:
        return Upstream(
            provider=provider,
            api=custom.api,
            base_url=custom.base_url.rstrip("/"),
            key=custom.api_key,
            custom=True,
        )
    if provider not in PROVIDER_ENV_VARS:
        return Refusal(
            404,
            "provider_unknown",
            "there is no provider of this name in this project's organisation.",
            {"provider": provider[:64]},
        )
    base = builtin_base(provider, model)
    if base is None:
        label = PROVIDER_LABELS.get(provider, provider)
        return Refusal(
            404,
            "provider_unknown",
            f"{label} has no fixed address; add it as a custom provider on the settings page.",
            {"provider": provider},
        )
    key = organisation.api_key_map().get(provider, "")
    if not key:
        return Refusal(
            403,
            "provider_key_missing",
            f"the project's organisation has no key for {PROVIDER_LABELS.get(provider, provider)}.",
            {"provider": provider},
        )
    base_url, api = base
    override = dict(settings.STARTER_GATEWAY_UPSTREAMS).get(provider)
    if override:
        base_url = moved(base_url, override)
    return Upstream(provider=provider, api=api or "openai-completions", base_url=base_url, key=key)
