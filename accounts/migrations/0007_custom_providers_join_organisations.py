"""Custom providers belong to an organisation: each existing one joins its user's personal
organisation. Provider keys and the Sprites token are copied onto the personal organisation
once more (organisations 0002 copied them; a key changed since then is in UserSettings still),
before 0008 removes them from UserSettings."""

from __future__ import annotations

import secrets
from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def _personal_organisation(apps: Any, user_id: int) -> Any:
    organisation_model = apps.get_model("organisations", "Organisation")
    membership_model = apps.get_model("organisations", "Membership")
    user_model = apps.get_model("accounts", "User")
    organisation = organisation_model.objects.filter(personal_of_id=user_id).first()
    if organisation is None:
        user = user_model.objects.get(pk=user_id)
        organisation = organisation_model.objects.create(
            public_id=secrets.token_hex(8),
            name=f"{user.email} (personal)"[:100],
            personal_of_id=user_id,
            created_at=user.date_joined,
        )
        membership_model.objects.get_or_create(
            organisation=organisation, user_id=user_id, defaults={"role": "owner"}
        )
    return organisation


def move_to_organisations(apps: Any, schema_editor: Any) -> None:
    custom_provider = apps.get_model("accounts", "CustomProvider")
    user_settings = apps.get_model("accounts", "UserSettings")
    for provider in custom_provider.objects.filter(organisation__isnull=True).iterator():
        provider.organisation = _personal_organisation(apps, provider.user_id)
        provider.save(update_fields=["organisation"])
    for found in user_settings.objects.order_by("pk").iterator():
        if not (found.api_keys or found.sprites_token):
            continue
        organisation = _personal_organisation(apps, found.user_id)
        organisation.api_keys = found.api_keys
        organisation.api_keys_set_at = found.api_keys_set_at
        organisation.sprites_token = found.sprites_token
        organisation.sprites_token_set_at = found.sprites_token_set_at
        organisation.save(
            update_fields=["api_keys", "api_keys_set_at", "sprites_token", "sprites_token_set_at"]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_api_token_organisation"),
        ("organisations", "0002_personal_organisations"),
    ]

    operations = [
        migrations.AddField(
            model_name="customprovider",
            name="organisation",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="custom_providers",
                to="organisations.organisation",
            ),
        ),
        migrations.RunPython(move_to_organisations, migrations.RunPython.noop),
    ]
