"""Personal budgets are gone (0002 moved each onto its person's personal organisation); the
ledger is read by organisation and month."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0002_organisation_budgets_and_ledger"),
    ]

    operations = [
        migrations.DeleteModel(name="UserLimits"),
        migrations.AddIndex(
            model_name="usagerecord",
            index=models.Index(fields=["organisation", "created_at"], name="usage_org_time"),
        ),
    ]
