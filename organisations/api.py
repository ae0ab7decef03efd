"""The organisations API under ``/api/v1/organisations``.

Each block below is one concern; every operation calls the same domain function as the
pages do, and every refusal comes from organisations.access (404 for a non-member, 403
``role_required`` naming the role needed).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.http import Http404, HttpRequest
from django.utils.dateparse import parse_datetime
from ninja import Router, Schema
from ninja.responses import Status as Reply
from pydantic import BaseModel, ConfigDict, Field

from accounts.api_auth import principal_of
from accounts.models import CustomProvider
from accounts.providers import PROVIDER_LABELS, provider_choices
from accounts.schemas import ApiKeyIn, CustomProviderIn, CustomProviderOut, ProviderKeyOut
from accounts.user_settings import ProviderPrices
from gateway import budgets
from organisations import provider_settings
from organisations.access import NO_SUCH_ORGANISATION, organisation_for_user
from organisations.models import Organisation
from organisations.roles import Ability
from starter.api_errors import BASE_ERRORS, responses

router = Router(tags=["organisations"])

ORG_ERRORS = (*BASE_ERRORS, 404)


def organisation_for_principal(
    request: HttpRequest, organisation_id: str, ability: Ability = Ability.VIEW
) -> Organisation:
    """The API caller's organisation if their role allows `ability`; a token limited to
    another organisation finds nothing (404), like a non-member."""
    principal = principal_of(request)
    organisation, _ = organisation_for_user(principal.user, organisation_id[:32], ability)
    if principal.organisation_id is not None and principal.organisation_id != organisation.pk:
        raise Http404(NO_SUCH_ORGANISATION)
    return organisation


# == Organisation settings: provider keys, Sprites token, custom providers, budget ==========
# (the settings helper's block; MANAGE for every operation, reads included: members do not
# even learn which providers have a key.)


class SpritesTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, description="Write-only: never returned by any endpoint.")


class SpritesTokenOut(Schema):
    has_token: bool
    set_at: datetime | None = Field(description="When the token was saved; write-only.")


Budget = (
    Annotated[str, Field(pattern=r"^\$?[0-9]{1,7}(\.[0-9]{1,4})?$", examples=["25", "7.50"])]
    | Annotated[float, Field(gt=0, le=1_000_000)]
    | None
)


class OrganisationBudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_budget: Budget = Field(
        description="The organisation's dollars a month over all its projects; null for the "
        "platform's default. Never above the platform's cap (`max_budget`)."
    )


class OrganisationBudgetOut(Schema):
    organisation: str
    organisation_name: str
    monthly_budget: str | None
    applied_budget: str | None
    max_budget: str | None
    spent: str
    unpriced: int
    month: str


def _when(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def provider_keys_out(organisation: Organisation) -> list[ProviderKeyOut]:
    set_at: dict[str, str] = dict(organisation.api_keys_set_at)
    return [
        ProviderKeyOut(
            provider=name, label=label, has_key=name in set_at, set_at=_when(set_at.get(name))
        )
        for name, label in provider_choices()
    ]


def known_provider(provider: str) -> None:
    if provider not in PROVIDER_LABELS:
        raise Http404(
            f"Unknown provider {provider[:64]!r}; one of: {', '.join(sorted(PROVIDER_LABELS))}."
        )


def _price(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def custom_provider_out(provider: CustomProvider) -> CustomProviderOut:
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


def save_custom_provider_from(
    organisation: Organisation, actor: object, name: str, payload: CustomProviderIn
) -> CustomProvider:
    return provider_settings.save_custom_provider(
        organisation,
        actor,
        name,
        payload.api,
        payload.base_url,
        list(payload.model_ids),
        payload.api_key,
        ProviderPrices(
            payload.price_input,
            payload.price_output,
            payload.price_cache_read,
            payload.price_cache_write,
        ),
    )


def remove_custom_provider_of(organisation: Organisation, actor: object, name: str) -> None:
    provider_settings.require_manager(organisation, actor)
    if not CustomProvider.objects.filter(organisation=organisation, name=name).exists():
        raise Http404(f"There is no custom provider named {name[:64]!r}.")
    provider_settings.remove_custom_provider(organisation, actor, name)


def remove_api_key_of(organisation: Organisation, actor: object, provider: str) -> None:
    known_provider(provider)
    provider_settings.require_manager(organisation, actor)
    if provider not in organisation.api_keys_set_at:
        raise Http404(f"No key is set for {provider!r}.")
    provider_settings.remove_api_key(organisation, actor, provider)


def _managed(request: HttpRequest, organisation_id: str) -> Organisation:
    return organisation_for_principal(request, organisation_id, Ability.MANAGE)


@router.get(
    "/{organisation_id}/keys",
    response=responses({200: list[ProviderKeyOut]}, *ORG_ERRORS),
    summary="Which providers have a key",
)
def list_keys(request: HttpRequest, organisation_id: str) -> list[ProviderKeyOut]:
    """Admins and owners only (never the keys: they are write-only)."""
    return provider_keys_out(_managed(request, organisation_id))


@router.put(
    "/{organisation_id}/keys/{provider}",
    response=responses({200: list[ProviderKeyOut]}, *ORG_ERRORS, 400),
    summary="Set a provider's API key",
)
def set_key(
    request: HttpRequest, organisation_id: str, provider: str, payload: ApiKeyIn
) -> list[ProviderKeyOut]:
    """The key never enters a Sprite: the model gateway adds it to each call of the
    organisation's projects. Write-only; the audit log records the provider's name."""
    organisation = _managed(request, organisation_id)
    known_provider(provider)
    provider_settings.set_api_key(organisation, principal_of(request).user, provider, payload.key)
    return provider_keys_out(organisation)


@router.delete(
    "/{organisation_id}/keys/{provider}",
    response=responses({204: None}, *ORG_ERRORS),
    summary="Remove a provider's API key",
)
def remove_key(request: HttpRequest, organisation_id: str, provider: str) -> Reply[None]:
    remove_api_key_of(_managed(request, organisation_id), principal_of(request).user, provider)
    return Reply(204, None)


def _sprites_token_out(organisation: Organisation) -> SpritesTokenOut:
    return SpritesTokenOut(
        has_token=organisation.sprites_token_set_at is not None,
        set_at=organisation.sprites_token_set_at,
    )


@router.get(
    "/{organisation_id}/sprites-token",
    response=responses({200: SpritesTokenOut}, *ORG_ERRORS),
    summary="Whether a Sprites token is set",
)
def get_sprites_token(request: HttpRequest, organisation_id: str) -> SpritesTokenOut:
    return _sprites_token_out(_managed(request, organisation_id))


@router.put(
    "/{organisation_id}/sprites-token",
    response=responses({200: SpritesTokenOut}, *ORG_ERRORS, 400),
    summary="Set the organisation's Sprites token",
)
def set_sprites_token(
    request: HttpRequest, organisation_id: str, payload: SpritesTokenIn
) -> SpritesTokenOut:
    """The organisation's projects' Sprites are made with it (else the platform's)."""
    organisation = _managed(request, organisation_id)
    provider_settings.set_sprites_token(organisation, principal_of(request).user, payload.token)
    return _sprites_token_out(organisation)


@router.delete(
    "/{organisation_id}/sprites-token",
    response=responses({204: None}, *ORG_ERRORS),
    summary="Clear the organisation's Sprites token",
)
def clear_sprites_token(request: HttpRequest, organisation_id: str) -> Reply[None]:
    organisation = _managed(request, organisation_id)
    provider_settings.clear_sprites_token(organisation, principal_of(request).user)
    return Reply(204, None)


@router.get(
    "/{organisation_id}/custom-providers",
    response=responses({200: list[CustomProviderOut]}, *ORG_ERRORS),
    summary="The organisation's custom providers",
)
def list_custom_providers(request: HttpRequest, organisation_id: str) -> list[CustomProviderOut]:
    organisation = _managed(request, organisation_id)
    return [custom_provider_out(p) for p in provider_settings.custom_providers_of(organisation)]


@router.put(
    "/{organisation_id}/custom-providers/{name}",
    response=responses({200: CustomProviderOut}, *ORG_ERRORS, 400),
    summary="Add or replace a custom provider",
)
def save_custom_provider(
    request: HttpRequest, organisation_id: str, name: str, payload: CustomProviderIn
) -> CustomProviderOut:
    """An OpenAI- or Anthropic-compatible endpoint every project of the organisation can
    use, through the model gateway (its key never enters a project)."""
    organisation = _managed(request, organisation_id)
    provider = save_custom_provider_from(organisation, principal_of(request).user, name, payload)
    return custom_provider_out(provider)


@router.delete(
    "/{organisation_id}/custom-providers/{name}",
    response=responses({204: None}, *ORG_ERRORS),
    summary="Remove a custom provider",
)
def remove_custom_provider(request: HttpRequest, organisation_id: str, name: str) -> Reply[None]:
    remove_custom_provider_of(_managed(request, organisation_id), principal_of(request).user, name)
    return Reply(204, None)


@router.get(
    "/{organisation_id}/budget",
    response=responses({200: OrganisationBudgetOut}, *ORG_ERRORS),
    summary="The organisation's monthly budget",
)
def get_budget(request: HttpRequest, organisation_id: str) -> dict[str, Any]:
    return budgets.organisation_budget_document(_managed(request, organisation_id))


@router.put(
    "/{organisation_id}/budget",
    response=responses({200: OrganisationBudgetOut}, *ORG_ERRORS, 400),
    summary="Set the organisation's monthly budget",
)
def set_budget(
    request: HttpRequest, organisation_id: str, payload: OrganisationBudgetIn
) -> dict[str, Any]:
    """Above the platform's cap is a 400 (`budget_above_cap`); the change is audited with
    the old and new amounts."""
    organisation = _managed(request, organisation_id)
    budgets.set_organisation_budget(
        organisation, principal_of(request).user, payload.monthly_budget
    )
    return budgets.organisation_budget_document(organisation)


# == end of the organisation settings block =================================================
