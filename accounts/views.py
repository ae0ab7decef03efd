"""The settings page: personal settings (model defaults, API tokens), then the current
organisation's settings (provider keys, Sprites token, custom providers, budget), shown and
changed by its admins and owners only (organisations.provider_settings checks the role)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import user_settings
from accounts.forms import (
    ApiKeyForm,
    ApiTokenForm,
    CustomProviderForm,
    DefaultsForm,
    SpritesTokenForm,
)
from accounts.http import AuthenticatedHttpRequest
from accounts.model_catalog import providers_for
from accounts.models import ApiToken, User
from accounts.providers import PROVIDER_LABELS
from accounts.tokens import create_api_token, revoke_api_token
from organisations import provider_settings
from organisations.access import role_of
from organisations.current import current_organisation
from organisations.models import Organisation
from organisations.roles import ARTICLE, Ability, allows, needed_role


def _form_errors_to_messages(request: HttpRequest, form: Form) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))


def _context(request: AuthenticatedHttpRequest, **forms: Any) -> dict[str, Any]:
    user = request.user
    current = user_settings.settings_for(user)
    organisation = current_organisation(request)
    role = role_of(user, organisation.pk)
    can_manage = allows(role, Ability.MANAGE)
    context: dict[str, Any] = {
        "organisation": organisation,
        "organisation_role": role or "",
        "can_manage_organisation": can_manage,
        # What a member sees instead of the organisation's settings: the role needed, and
        # nothing of the settings themselves (not even which providers have a key).
        "manage_note": (
            f"The settings of {organisation.name} (provider keys, Sprites token, custom "
            f"providers, budget) are for its {needed_role(Ability.MANAGE).value}s and owners; "
            f"you are {ARTICLE.get(role or '', 'not a member')} there."
        ),
        "user_settings": current,
        "defaults_form": DefaultsForm(
            initial={
                "default_provider": current.default_provider,
                "default_model": current.default_model,
                "default_thinking_level": current.default_thinking_level,
            }
        ),
        "api_key_form": ApiKeyForm(),
        "sprites_token_form": SpritesTokenForm(),
        "api_token_form": ApiTokenForm(),
        "api_keys": sorted(
            (PROVIDER_LABELS.get(provider, provider), provider, set_at)
            for provider, set_at in organisation.api_keys_set_at.items()
        )
        if can_manage
        else [],
        "provider_labels": PROVIDER_LABELS,
        "api_tokens": ApiToken.objects.for_user(user),
        "model_catalog": providers_for(organisation),
        "custom_providers": [
            (provider, user_settings.price_summary(provider))
            for provider in provider_settings.custom_providers_of(organisation)
        ]
        if can_manage
        else [],
        "custom_provider_form": CustomProviderForm(),
    }
    context.update(forms)
    return context


@login_required
def settings_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "accounts/settings.html", _context(request))


def _invalid(request: AuthenticatedHttpRequest, **forms: Any) -> HttpResponse:
    return render(request, "accounts/settings.html", _context(request, **forms), status=422)


def _submit(
    request: AuthenticatedHttpRequest,
    form: Form,
    form_name: str,
    save: Callable[[User, dict[str, Any]], str],
) -> HttpResponse:
    """Every settings form: validate, save through the domain, say what happened.

    ``save`` gets the user and the form's cleaned data and returns the success message.
    An invalid form or a refusal of the domain re-renders the page (422) with the form as
    it was typed, so nothing the person entered is lost; success redirects (PRG).
    """
    user = request.user
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return _invalid(request, **{form_name: form})
    try:
        message = save(user, form.cleaned_data)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
        return _invalid(request, **{form_name: form})
    if message:
        messages.success(request, message)
    return redirect("accounts:settings")


def _managed_organisation(request: AuthenticatedHttpRequest) -> Organisation:
    """The current organisation, when the person may change its settings (else a 403 page
    naming the role needed, before any form is read)."""
    organisation = current_organisation(request)
    provider_settings.require_manager(organisation, request.user)
    return organisation


@login_required
@require_POST
def save_defaults(request: AuthenticatedHttpRequest) -> HttpResponse:
    def save(user: User, data: dict[str, Any]) -> str:
        user_settings.update_defaults(
            user,
            data["default_provider"],
            data["default_model"],
            data["default_thinking_level"],
        )
        return "Defaults saved."

    return _submit(request, DefaultsForm(request.POST), "defaults_form", save)


@login_required
@require_POST
def save_api_key(request: AuthenticatedHttpRequest) -> HttpResponse:
    organisation = _managed_organisation(request)

    def save(user: User, data: dict[str, Any]) -> str:
        provider_settings.set_api_key(organisation, user, data["provider"], data["key"])
        return f"{PROVIDER_LABELS[data['provider']]} key saved. {user_settings.KEYS_APPLY_WHEN}"

    return _submit(request, ApiKeyForm(request.POST), "api_key_form", save)


@login_required
@require_POST
def remove_api_key(request: AuthenticatedHttpRequest, provider: str) -> HttpResponse:
    organisation = _managed_organisation(request)
    try:
        provider_settings.remove_api_key(organisation, request.user, provider)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Key removed. {user_settings.KEYS_APPLY_WHEN}")
    return redirect("accounts:settings")


@login_required
@require_POST
def save_sprites_token(request: AuthenticatedHttpRequest) -> HttpResponse:
    organisation = _managed_organisation(request)
    if request.POST.get("clear"):
        provider_settings.clear_sprites_token(organisation, request.user)
        messages.success(request, "Sprites token removed; the platform's token is used.")
        return redirect("accounts:settings")

    def save(user: User, data: dict[str, Any]) -> str:
        provider_settings.set_sprites_token(organisation, user, data["token"])
        return "Sprites token saved."

    return _submit(request, SpritesTokenForm(request.POST), "sprites_token_form", save)


@never_cache
@login_required
@require_POST
def create_token(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create a token and show it in this very response, the only place it ever appears.

    No redirect: carrying the value to another page would mean storing it (the session
    table held it in clear). Only its hash is stored; the page is not cached.
    """
    user = request.user
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return _invalid(request, api_token_form=form)
    _, raw = create_api_token(user, form.cleaned_data["name"])
    return render(request, "accounts/settings.html", _context(request, new_token=raw))


@login_required
@require_http_methods(["POST"])
def revoke_token(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = ApiToken.objects.for_user(request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    revoke_api_token(token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:settings")


@login_required
@require_POST
def save_custom_provider(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = CustomProviderForm(request.POST)
    organisation = _managed_organisation(request)

    def save(user: User, data: dict[str, Any]) -> str:
        provider = provider_settings.save_custom_provider(
            organisation,
            user,
            data["name"],
            data["api"],
            data["base_url"],
            form.model_id_list(),
            data["api_key"] or None,
            user_settings.ProviderPrices(
                data["price_input"],
                data["price_output"],
                data["price_cache_read"],
                data["price_cache_write"],
            ),
        )
        return f"Provider {provider.name} saved. {user_settings.KEYS_APPLY_WHEN}"

    return _submit(request, form, "custom_provider_form", save)


@login_required
@require_POST
def remove_custom_provider(request: AuthenticatedHttpRequest, name: str) -> HttpResponse:
    organisation = _managed_organisation(request)
    try:
        provider_settings.remove_custom_provider(organisation, request.user, name)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Provider {name} removed. {user_settings.KEYS_APPLY_WHEN}")
    return redirect("accounts:settings")
