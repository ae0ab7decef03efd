"""Budgets and the ledger belong to organisations: each person's monthly budget becomes their
personal organisation's, and every ledger row names the organisation that paid (its
project's, or — for a row whose project is gone — its user's personal organisation)."""

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


def to_organisations(apps: Any, schema_editor: Any) -> None:
    user_limits = apps.get_model("gateway", "UserLimits")
    organisation_limits = apps.get_model("gateway", "OrganisationLimits")
    usage_record = apps.get_model("gateway", "UsageRecord")
    project_model = apps.get_model("projects", "Project")
    for row in user_limits.objects.order_by("pk").iterator():
        organisation = _personal_organisation(apps, row.user_id)
        organisation_limits.objects.update_or_create(
            organisation=organisation, defaults={"monthly_budget": row.monthly_budget}
        )
    # One UPDATE per (project) and per (user) instead of one per row: ledgers are long.
    project_ids = (
        usage_record.objects.filter(organisation__isnull=True, project__isnull=False)
        .values_list("project_id", flat=True)
        .distinct()
    )
    for project in project_model.objects.filter(pk__in=list(project_ids)).select_related(
        "organisation"
    ):
        usage_record.objects.filter(organisation__isnull=True, project_id=project.pk).update(
            organisation_id=project.organisation_id,
            organisation_public_id=project.organisation.public_id,
            organisation_name=project.organisation.name[:100],
        )
    user_ids = (
        usage_record.objects.filter(organisation__isnull=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user_id in list(user_ids):
        organisation = _personal_organisation(apps, user_id)
        usage_record.objects.filter(organisation__isnull=True, user_id=user_id).update(
            organisation_id=organisation.pk,
            organisation_public_id=organisation.public_id,
            organisation_name=organisation.name[:100],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0001_initial"),
        ("organisations", "0002_personal_organisations"),
        ("projects", "0007_every_project_has_an_organisation"),
    ]

    operations = [
        migrations.CreateModel(
            name="OrganisationLimits",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "monthly_budget",
                    models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "organisation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="gateway_limits",
                        to="organisations.organisation",
                    ),
                ),
            ],
            options={"verbose_name_plural": "organisation limits"},
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="organisation",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="usage_records",
                to="organisations.organisation",
            ),
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="organisation_name",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="organisation_public_id",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.RunPython(to_organisations, migrations.RunPython.noop),
    ]
