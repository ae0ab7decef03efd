"""pi 1.6: the thinking level ``max``, and the Azure provider's new id ``azure`` (it was
``azure-openai-responses``): stored keys and defaults move to the new id, so a user's
Azure key keeps working after the upgrade."""

from typing import Any

from django.db import migrations, models

OLD, NEW = "azure-openai-responses", "azure"


def rename_provider(apps: Any, schema_editor: Any, old: str = OLD, new: str = NEW) -> None:
    import json

    UserSettings = apps.get_model("accounts", "UserSettings")
    for row in UserSettings.objects.all():
        changed = False
        keys = json.loads(row.api_keys) if row.api_keys else {}
        if old in keys:
            keys[new] = keys.pop(old)
            row.api_keys = json.dumps(keys)
            changed = True
        set_at = dict(row.api_keys_set_at or {})
        if old in set_at:
            set_at[new] = set_at.pop(old)
            row.api_keys_set_at = set_at
            changed = True
        if row.default_provider == old:
            row.default_provider = new
            changed = True
        if changed:
            row.save(update_fields=["api_keys", "api_keys_set_at", "default_provider"])


def rename_back(apps: Any, schema_editor: Any) -> None:
    rename_provider(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_scrub_new_api_tokens_from_sessions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usersettings",
            name="default_thinking_level",
            field=models.CharField(
                choices=[
                    ("off", "off"),
                    ("minimal", "minimal"),
                    ("low", "low"),
                    ("medium", "medium"),
                    ("high", "high"),
                    ("xhigh", "xhigh"),
                    ("max", "max"),
                ],
                default="off",
                max_length=16,
            ),
        ),
        migrations.RunPython(rename_provider, rename_back),
    ]
