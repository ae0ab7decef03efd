from __future__ import annotations

from django import forms

from accounts.models import THINKING_LEVELS
from accounts.providers import provider_choices


class DefaultsForm(forms.Form):
    default_provider = forms.CharField(
        required=False,
        max_length=64,
        label="Provider",
        widget=forms.TextInput(attrs={"list": "provider-names"}),
    )
    default_model = forms.CharField(
        required=False,
        max_length=200,
        label="Model",
        widget=forms.TextInput(attrs={"placeholder": "e.g. claude-sonnet-4-5"}),
    )
    default_thinking_level = forms.ChoiceField(
        choices=[(level, level) for level in THINKING_LEVELS], label="Thinking level"
    )


class ApiKeyForm(forms.Form):
    provider = forms.ChoiceField(
        choices=provider_choices(),
        error_messages={"invalid_choice": "Choose a provider from the list."},
    )
    key = forms.CharField(
        label="API key",
        strip=True,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Paste the API key; it cannot be empty."},
    )


class SpritesTokenForm(forms.Form):
    token = forms.CharField(
        label="Sprites token",
        strip=True,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Paste the Sprites token; it cannot be empty."},
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        widget=forms.TextInput(attrs={"placeholder": "e.g. CI script"}),
        error_messages={"required": "Name the token so you can recognise it later."},
    )
