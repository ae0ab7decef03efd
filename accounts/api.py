"""The user-settings API: model defaults (personal), and aliases kept for existing clients.

Provider keys and custom providers belong to an organisation since teams came
(``/api/v1/organisations/{org_id}/keys…``, ``…/custom-providers…``); the ``/settings``
paths below act on the caller's **personal organisation**, so clients written before keep
working. Operations call the same functions as the settings page.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Router
from ninja.responses import Status as Reply

from accounts import user_settings
from accounts.api_auth import principal_of
from accounts.models import User
from accounts.schemas import (
    ApiKeyIn,
    CustomProviderIn,
    CustomProviderOut,
    DefaultsPatchIn,
    SettingsOut,
)
from organisations import provider_settings
from organisations.access import NO_SUCH_ORGANISATION
from organisations.api import (
    custom_provider_out,
    known_provider,
    provider_keys_out,
    remove_api_key_of,
    remove_custom_provider_of,
    save_custom_provider_from,
)
from organisations.models import Organisation
from organisations.personal import personal_organisation_of
from starter.api_errors import BASE_ERRORS, responses

router = Router(tags=["settings"])


def _personal(request: HttpRequest) -> Organisation:
    """The caller's personal organisation (what the aliases act on); a token limited to
    another organisation finds nothing here."""
    principal = principal_of(request)
    organisation = personal_organisation_of(principal.user)
    if principal.organisation_id is not None and principal.organisation_id != organisation.pk:
        raise Http404(NO_SUCH_ORGANISATION)
    return organisation


def _settings_out(user: User) -> SettingsOut:
    """The defaults, and the personal organisation's key state (for older clients)."""
    current = user_settings.settings_for(user)
    organisation = personal_organisation_of(user)
    return SettingsOut(
        default_provider=current.default_provider,
        default_model=current.default_model,
        default_thinking_level=current.default_thinking_level,  # type: ignore[arg-type]
        providers=provider_keys_out(organisation),
        sprites_token_set_at=organisation.sprites_token_set_at,
    )


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


# -- aliases on the personal organisation (kept for clients written before teams) ---------


@router.put(
    "/api-keys/{provider}",
    response=responses({200: SettingsOut}, *BASE_ERRORS, 400, 404),
    summary="Set a provider's API key (your personal organisation)",
)
def set_api_key(request: HttpRequest, provider: str, payload: ApiKeyIn) -> SettingsOut:
    """An alias of `PUT /organisations/{org_id}/keys/{provider}` for the caller's personal
    organisation. The key never enters a Sprite: the model gateway adds it to each call.
    Write-only."""
    organisation = _personal(request)
    user = principal_of(request).user
    known_provider(provider)
    provider_settings.set_api_key(organisation, user, provider, payload.key)
    return _settings_out(user)


@router.delete(
    "/api-keys/{provider}",
    response=responses({204: None}, *BASE_ERRORS, 404),
    summary="Remove a provider's API key (your personal organisation)",
)
def remove_api_key(request: HttpRequest, provider: str) -> Reply[None]:
    """An alias of `DELETE /organisations/{org_id}/keys/{provider}` for the caller's
    personal organisation."""
    remove_api_key_of(_personal(request), principal_of(request).user, provider)
    return Reply(204, None)


@router.get(
    "/custom-providers",
    response=responses({200: list[CustomProviderOut]}, *BASE_ERRORS),
    summary="Custom providers (your personal organisation)",
)
def list_custom_providers(request: HttpRequest) -> list[CustomProviderOut]:
    """An alias of `GET /organisations/{org_id}/custom-providers` for the caller's
    personal organisation."""
    organisation = _personal(request)
    return [custom_provider_out(p) for p in provider_settings.custom_providers_of(organisation)]


@router.put(
    "/custom-providers/{name}",
    response=responses({200: CustomProviderOut}, *BASE_ERRORS, 400),
    summary="Add or replace a custom provider (your personal organisation)",
)
def save_custom_provider(
    request: HttpRequest, name: str, payload: CustomProviderIn
) -> CustomProviderOut:
    """An alias of `PUT /organisations/{org_id}/custom-providers/{name}` for the caller's
    personal organisation. An OpenAI- or Anthropic-compatible endpoint every project can
    use, through the platform's model gateway (its key never enters a project). Prices are
    US dollars per million tokens, non-negative; without input and output prices usage
    shows "price unknown", never a cost of zero."""
    organisation = _personal(request)
    provider = save_custom_provider_from(organisation, principal_of(request).user, name, payload)
    return custom_provider_out(provider)


@router.delete(
    "/custom-providers/{name}",
    response=responses({204: None}, *BASE_ERRORS, 404),
    summary="Remove a custom provider (your personal organisation)",
)
def remove_custom_provider(request: HttpRequest, name: str) -> Reply[None]:
    """An alias of `DELETE /organisations/{org_id}/custom-providers/{name}`."""
    remove_custom_provider_of(_personal(request), principal_of(request).user, name)
    return Reply(204, None)
