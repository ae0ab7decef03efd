from __future__ import annotations

from django import forms

from projects.actions import clean_description, clean_name
from projects.errors import ProjectError


class ProjectForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. Customer portal", "autocomplete": "off"}
        ),
        error_messages={
            "required": "Give the project a name.",
            "max_length": "A project name has at most 100 characters.",
        },
    )
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "What should the agent build? (optional)"}
        ),
        error_messages={"max_length": "A description has at most 2000 characters."},
    )

    def clean_name(self) -> str:
        try:
            return clean_name(self.cleaned_data["name"])
        except ProjectError as error:
            raise forms.ValidationError(error.message) from error

    def clean_description(self) -> str:
        try:
            return clean_description(self.cleaned_data.get("description") or "")
        except ProjectError as error:
            raise forms.ValidationError(error.message) from error


class SecretForm(forms.Form):
    name = forms.CharField(
        max_length=128,
        widget=forms.TextInput(attrs={"placeholder": "STRIPE_API_KEY", "autocomplete": "off"}),
    )
    value = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        error_messages={"required": "A secret needs a value."},
    )
