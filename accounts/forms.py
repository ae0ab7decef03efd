from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import CustomProvider
from accounts.providers import provider_choices
from bridge_agent.protocol import THINKING_LEVELS


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
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. claude-sonnet-4-5", "list": "model-names"}
        ),
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


def _price_options(label: str) -> dict[str, Any]:
    """A price per million tokens: optional, non-negative, with messages that say which."""
    return {
        "min_value": 0,
        "max_digits": 12,
        "decimal_places": 6,
        "widget": forms.NumberInput(attrs={"step": "any", "min": "0", "placeholder": "unknown"}),
        "error_messages": {
            "invalid": f"The {label} price is a number of dollars, e.g. 0.15.",
            "min_value": f"The {label} price cannot be negative.",
            "max_digits": f"The {label} price is per million tokens: at most 999999.",
            "max_whole_digits": f"The {label} price is per million tokens: at most 999999.",
            "max_decimal_places": f"The {label} price has at most 6 decimal places.",
        },
    }


class CustomProviderForm(forms.Form):
    name = forms.CharField(
        max_length=40,
        label="Name",
        widget=forms.TextInput(attrs={"placeholder": "e.g. my-ollama", "autocomplete": "off"}),
        error_messages={"required": "Name the provider, e.g. 'my-ollama'."},
    )
    api = forms.ChoiceField(
        choices=CustomProvider.APIS,
        label="API",
        error_messages={"invalid_choice": "Choose the API the endpoint speaks."},
    )
    base_url = forms.CharField(
        max_length=500,
        label="Base URL",
        widget=forms.TextInput(attrs={"placeholder": "http://gpu-box:11434/v1"}),
        error_messages={"required": "Give the endpoint's base URL."},
    )
    model_ids = forms.CharField(
        max_length=4000,
        label="Model ids",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "llama3.1:70b, qwen2.5-coder"}),
        error_messages={"required": "List at least one model id."},
    )
    api_key = forms.CharField(
        required=False,
        max_length=4096,
        label="API key",
        strip=True,
        widget=forms.PasswordInput(
            attrs={"autocomplete": "off", "placeholder": "Leave empty to keep the saved key"}
        ),
    )

    price_input = forms.DecimalField(required=False, label="Input", **_price_options("input"))
    price_output = forms.DecimalField(required=False, label="Output", **_price_options("output"))
    price_cache_read = forms.DecimalField(
        required=False, label="Cache read", **_price_options("cache read")
    )
    price_cache_write = forms.DecimalField(
        required=False, label="Cache write", **_price_options("cache write")
    )

    def model_id_list(self) -> list[str]:
        raw = self.cleaned_data.get("model_ids") or ""
        return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
