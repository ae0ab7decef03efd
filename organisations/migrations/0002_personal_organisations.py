"""Every existing user gets their personal organisation, owned by them, holding the provider
keys and Sprites token they had in their settings (copied, still encrypted at rest)."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import migrations


def make_personal_organisations(apps: Any, schema_editor: Any) -> None:
    user_model = apps.get_model("accounts", "User")
    user_settings = apps.get_model("accounts", "UserSettings")
    organisation_model = apps.get_model("organisations", "Organisation")
    membership_model = apps.get_model("organisations", "Membership")
    for user in user_model.objects.order_by("pk").iterator():
        organisation = organisation_model.objects.filter(personal_of_id=user.pk).first()
        if organisation is None:
            organisation = organisation_model.objects.create(
                public_id=secrets.token_hex(8),
                name=f"{user.email} (personal)"[:100],
                personal_of_id=user.pk,
                created_at=user.date_joined,
            )
        membership_model.objects.get_or_create(
            organisation=organisation, user=user, defaults={"role": "owner"}
        )
        found = user_settings.objects.filter(user_id=user.pk).first()
        if found is not None:
            organisation.api_keys = found.api_keys
            organisation.api_keys_set_at = found.api_keys_set_at
            organisation.sprites_token = found.sprites_token
            organisation.sprites_token_set_at = found.sprites_token_set_at
            organisation.save()


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0001_initial"),
        ("accounts", "0005_custom_provider_prices"),
    ]

    operations = [
        migrations.RunPython(make_personal_organisations, migrations.RunPython.noop),
    ]
