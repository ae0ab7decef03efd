"""The user-settings API: model defaults, provider API keys (write-only), custom providers.

Operations call the same functions as the settings page (`accounts.user_settings`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.http import Http404, HttpRequest
from django.utils.dateparse import parse_datetime
from ninja import Router
from ninja.responses import Status as Reply

from accounts import user_settings
from accounts.api_auth import principal_of
from accounts.models import CustomProvider, User
from accounts.providers import PROVIDER_LABELS, provider_choices
from accounts.schemas import (
    ApiKeyIn,
    CustomProviderIn,
    CustomProviderOut,
    DefaultsPatchIn,
    ProviderKeyOut,
    SettingsOut,
)
from starter.api_errors import BASE_ERRORS, responses

router = Router(tags=["settings"])


def _settings_out(user: User) -> SettingsOut:
    current = user_settings.settings_for(user)
    set_at: dict[str, str] = dict(current.api_keys_set_at)
    providers = [
        ProviderKeyOut(
            provider=name,
            label=label,
            has_key=name in set_at,
            set_at=_when(set_at.get(name)),
        )
        for name, label in provider_choices()
    ]
    return SettingsOut(
        default_provider=current.default_provider,
        default_model=current.default_model,
        default_thinking_level=current.default_thinking_level,  # type: ignore[arg-type]
        providers=providers,
        sprites_token_set_at=current.sprites_token_set_at,
    )


def _when(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


@router.get("", response=responses({200: SettingsOut}, *BASE_ERRORS), summary="Your settings")
def get_settings(request: HttpRequest) -> SettingsOut:
    """Model defaults, and which providers have an API key (never the keys)."""
    return _settings_out(principal_of(request).user)


@router.patch(
    "", response=responses({200: SettingsOut}, *BASE_ERRORS, 400), summary="Change model defaults"
)
def update_settings(request: HttpRequest, payload: DefaultsPatchIn) -> SettingsOut:
    user = principal_of(request).user
    current = user_settings.settings_for(user)
    user_settings.update_defaults(
        user,
        payload.default_provider
        if payload.default_provider is not None
        else current.default_provider,
        payload.default_model if payload.default_model is not None else current.default_model,
        payload.default_thinking_level or current.default_thinking_level,
    )
    return _settings_out(user)


@router.put(
    "/api-keys/{provider}",
    response=responses({200: SettingsOut}, *BASE_ERRORS, 400, 404),
    summary="Set a provider's API key",
)
def set_api_key(request: HttpRequest, provider: str, payload: ApiKeyIn) -> SettingsOut:
    """The key never enters a Sprite: the model gateway adds it to each call, so it
    applies to every project's next model call. Write-only."""
    user = principal_of(request).user
    _known_provider(provider)
    user_settings.set_api_key(user, provider, payload.key)
    return _settings_out(user)


@router.delete(
    "/api-keys/{provider}",
    response=responses({204: None}, *BASE_ERRORS, 404),
    summary="Remove a provider's API key",
)
def remove_api_key(request: HttpRequest, provider: str) -> Reply[None]:
    user = principal_of(request).user
    _known_provider(provider)
    if provider not in user_settings.settings_for(user).api_keys_set_at:
        raise Http404(f"No key is set for {provider!r}.")
    user_settings.remove_api_key(user, provider)
    return Reply(204, None)


def _known_provider(provider: str) -> None:
    if provider not in PROVIDER_LABELS:
        raise Http404(
            f"Unknown provider {provider[:64]!r}; one of: {', '.join(sorted(PROVIDER_LABELS))}."
        )


# -- custom providers ---------------------------------------------------------------------


def _price(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _custom_provider_out(provider: CustomProvider) -> CustomProviderOut:
    return CustomProviderOut(
        name=provider.name,
        api=provider.api,  # type: ignore[arg-type]
        base_url=provider.base_url,
        model_ids=list(provider.model_ids),
        has_key=bool(provider.api_key),
        price_input=_price(provider.price_input),
        price_output=_price(provider.price_output),
        price_cache_read=_price(provider.price_cache_read),
        price_cache_write=_price(provider.price_cache_write),
    )


@router.get(
    "/custom-providers",
    response=responses({200: list[CustomProviderOut]}, *BASE_ERRORS),
    summary="Your custom providers",
)
def list_custom_providers(request: HttpRequest) -> list[CustomProviderOut]:
    user = principal_of(request).user
    return [_custom_provider_out(p) for p in CustomProvider.objects.filter(user=user)]


@router.put(
    "/custom-providers/{name}",
    response=responses({200: CustomProviderOut}, *BASE_ERRORS, 400),
    summary="Add or replace a custom provider",
)
def save_custom_provider(
    request: HttpRequest, name: str, payload: CustomProviderIn
) -> CustomProviderOut:
    """An OpenAI- or Anthropic-compatible endpoint every project's agent can use, through
    the platform's model gateway (its key never enters a project). Prices are US dollars
    per million tokens, non-negative; without input and output prices usage shows "price
    unknown", never a cost of zero."""
    provider = user_settings.save_custom_provider(
        principal_of(request).user,
        name,
        payload.api,
        payload.base_url,
        list(payload.model_ids),
        payload.api_key,
        user_settings.ProviderPrices(
            payload.price_input,
            payload.price_output,
            payload.price_cache_read,
            payload.price_cache_write,
        ),
    )
    return _custom_provider_out(provider)


@router.delete(
    "/custom-providers/{name}",
    response=responses({204: None}, *BASE_ERRORS, 404),
    summary="Remove a custom provider",
)
def remove_custom_provider(request: HttpRequest, name: str) -> Reply[None]:
    user = principal_of(request).user
    if not CustomProvider.objects.filter(user=user, name=name).exists():
        raise Http404(f"There is no custom provider named {name[:64]!r}.")
    user_settings.remove_custom_provider(user, name)
    return Reply(204, None)
