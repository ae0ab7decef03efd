"""The user-settings API: model defaults and provider API keys (write-only).

Operations call the same functions as the settings page (`accounts.user_settings`).
"""

from __future__ import annotations

from datetime import datetime

from django.http import Http404, HttpRequest
from django.utils.dateparse import parse_datetime
from ninja import Router
from ninja.responses import Status as Reply

from accounts import user_settings
from accounts.api_auth import principal_of
from accounts.models import User
from accounts.providers import PROVIDER_LABELS, provider_choices
from accounts.schemas import ApiKeyIn, DefaultsPatchIn, ProviderKeyOut, SettingsOut
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
    """Running Sprites get the key as an environment variable (their bridge restarts)."""
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
