"""The settings page: model defaults, write-only secrets, custom providers, API tokens."""

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
from accounts.models import ApiToken, CustomProvider, User
from accounts.providers import PROVIDER_LABELS
from accounts.tokens import create_api_token, revoke_api_token


def _form_errors_to_messages(request: HttpRequest, form: Form) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))


def _context(user: User, **forms: Any) -> dict[str, Any]:
    current = user_settings.settings_for(user)
    context: dict[str, Any] = {
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
            for provider, set_at in current.api_keys_set_at.items()
        ),
        "provider_labels": PROVIDER_LABELS,
        "api_tokens": ApiToken.objects.for_user(user),
        "model_catalog": providers_for(user),
        "custom_providers": [
            (provider, user_settings.price_summary(provider))
            for provider in CustomProvider.objects.filter(user=user)
        ],
        "custom_provider_form": CustomProviderForm(),
    }
    context.update(forms)
    return context


@login_required
def settings_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "accounts/settings.html", _context(request.user))


def _invalid(request: AuthenticatedHttpRequest, user: User, **forms: Any) -> HttpResponse:
    return render(request, "accounts/settings.html", _context(user, **forms), status=422)


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
        return _invalid(request, user, **{form_name: form})
    try:
        message = save(user, form.cleaned_data)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
        return _invalid(request, user, **{form_name: form})
    if message:
        messages.success(request, message)
    return redirect("accounts:settings")


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
    def save(user: User, data: dict[str, Any]) -> str:
        user_settings.set_api_key(user, data["provider"], data["key"])
        return f"{PROVIDER_LABELS[data['provider']]} key saved. {user_settings.KEYS_APPLY_WHEN}"

    return _submit(request, ApiKeyForm(request.POST), "api_key_form", save)


@login_required
@require_POST
def remove_api_key(request: AuthenticatedHttpRequest, provider: str) -> HttpResponse:
    try:
        user_settings.remove_api_key(request.user, provider)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Key removed. {user_settings.KEYS_APPLY_WHEN}")
    return redirect("accounts:settings")


@login_required
@require_POST
def save_sprites_token(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.POST.get("clear"):
        user_settings.clear_sprites_token(request.user)
        messages.success(request, "Sprites token removed; the platform's token is used.")
        return redirect("accounts:settings")

    def save(user: User, data: dict[str, Any]) -> str:
        user_settings.set_sprites_token(user, data["token"])
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
        return _invalid(request, user, api_token_form=form)
    _, raw = create_api_token(user, form.cleaned_data["name"])
    return render(request, "accounts/settings.html", _context(user, new_token=raw))


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

    def save(user: User, data: dict[str, Any]) -> str:
        provider = user_settings.save_custom_provider(
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
    try:
        user_settings.remove_custom_provider(request.user, name)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Provider {name} removed. {user_settings.KEYS_APPLY_WHEN}")
    return redirect("accounts:settings")
