"""Every project belongs to an organisation (its own migration: PostgreSQL refuses to alter a
table with the previous migration's row updates still pending in the same transaction)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0006_projects_join_their_owners_organisation"),
    ]

    operations = [
        migrations.AlterField(
            model_name="project",
            name="organisation",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="projects",
                to="organisations.organisation",
            ),
        ),
    ]
