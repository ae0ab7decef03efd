"""Custom providers are unique per organisation; provider keys and the Sprites token leave
UserSettings (0007 and organisations 0002 copied them onto each personal organisation)."""

from __future__ import annotations

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_custom_providers_join_organisations"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="customprovider", name="custom_provider_unique_name"
        ),
        migrations.AlterField(
            model_name="customprovider",
            name="organisation",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="custom_providers",
                to="organisations.organisation",
            ),
        ),
        migrations.AlterField(
            model_name="customprovider",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="custom_providers",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="customprovider",
            constraint=models.UniqueConstraint(
                fields=("organisation", "name"), name="custom_provider_unique_org_name"
            ),
        ),
        migrations.RemoveField(model_name="usersettings", name="api_keys"),
        migrations.RemoveField(model_name="usersettings", name="api_keys_set_at"),
        migrations.RemoveField(model_name="usersettings", name="sprites_token"),
        migrations.RemoveField(model_name="usersettings", name="sprites_token_set_at"),
    ]
