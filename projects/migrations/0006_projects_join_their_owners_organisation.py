"""Each existing project joins its owner's personal organisation."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def join_personal_organisations(apps: Any, schema_editor: Any) -> None:
    project_model = apps.get_model("projects", "Project")
    organisation_model = apps.get_model("organisations", "Organisation")
    by_user = dict(organisation_model.objects.values_list("personal_of_id", "pk"))
    for project in project_model.objects.filter(organisation__isnull=True).iterator():
        project.organisation_id = by_user[project.owner_id]
        project.save(update_fields=["organisation"])


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0005_project_organisation"),
        ("organisations", "0002_personal_organisations"),
    ]

    operations = [
        migrations.RunPython(join_personal_organisations, migrations.RunPython.noop),
    ]
