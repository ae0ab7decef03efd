"""The settings page: model defaults, write-only secrets, custom providers, API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import user_settings
from accounts.forms import (
    ApiKeyForm,
    ApiTokenForm,
    CustomProviderForm,
    DefaultsForm,
    SpritesTokenForm,
)
from accounts.model_catalog import providers_for
from accounts.models import ApiToken, CustomProvider, User
from accounts.providers import PROVIDER_LABELS
from accounts.tokens import create_api_token, revoke_api_token


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


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
        "custom_providers": CustomProvider.objects.filter(user=user),
        "custom_provider_form": CustomProviderForm(),
    }
    context.update(forms)
    return context


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    new_token = request.session.pop("new_api_token", None)
    return render(request, "accounts/settings.html", _context(user, new_token=new_token))


def _invalid(request: HttpRequest, user: User, **forms: Any) -> HttpResponse:
    return render(request, "accounts/settings.html", _context(user, **forms), status=422)


@login_required
@require_POST
def save_defaults(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = DefaultsForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return _invalid(request, user, defaults_form=form)
    try:
        user_settings.update_defaults(
            user,
            form.cleaned_data["default_provider"],
            form.cleaned_data["default_model"],
            form.cleaned_data["default_thinking_level"],
        )
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
        return _invalid(request, user, defaults_form=form)
    messages.success(request, "Defaults saved.")
    return redirect("accounts:settings")


@login_required
@require_POST
def save_api_key(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return _invalid(request, user, api_key_form=form)
    try:
        user_settings.set_api_key(user, form.cleaned_data["provider"], form.cleaned_data["key"])
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
        return _invalid(request, user, api_key_form=form)
    messages.success(request, f"{PROVIDER_LABELS[form.cleaned_data['provider']]} key saved.")
    return redirect("accounts:settings")


@login_required
@require_POST
def remove_api_key(request: HttpRequest, provider: str) -> HttpResponse:
    try:
        user_settings.remove_api_key(_user(request), provider)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Key removed.")
    return redirect("accounts:settings")


@login_required
@require_POST
def save_sprites_token(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.POST.get("clear"):
        user_settings.clear_sprites_token(user)
        messages.success(request, "Sprites token removed; the platform's token is used.")
        return redirect("accounts:settings")
    form = SpritesTokenForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return _invalid(request, user, sprites_token_form=form)
    try:
        user_settings.set_sprites_token(user, form.cleaned_data["token"])
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
        return _invalid(request, user, sprites_token_form=form)
    messages.success(request, "Sprites token saved.")
    return redirect("accounts:settings")


@login_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return _invalid(request, user, api_token_form=form)
    _, raw = create_api_token(user, form.cleaned_data["name"])
    # Shown exactly once, on the next page; only its hash is stored.
    request.session["new_api_token"] = raw
    return redirect("accounts:settings")


@login_required
@require_http_methods(["POST"])
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = ApiToken.objects.for_user(_user(request)).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    revoke_api_token(token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:settings")


@login_required
@require_POST
def save_custom_provider(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = CustomProviderForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return _invalid(request, user, custom_provider_form=form)
    try:
        provider = user_settings.save_custom_provider(
            user,
            form.cleaned_data["name"],
            form.cleaned_data["api"],
            form.cleaned_data["base_url"],
            form.model_id_list(),
            form.cleaned_data["api_key"] or None,
        )
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
        return _invalid(request, user, custom_provider_form=form)
    messages.success(request, f"Provider {provider.name} saved.")
    return redirect("accounts:settings")


@login_required
@require_POST
def remove_custom_provider(request: HttpRequest, name: str) -> HttpResponse:
    try:
        user_settings.remove_custom_provider(_user(request), name)
    except user_settings.SettingsError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Provider {name} removed.")
    return redirect("accounts:settings")
