"""Remove API tokens that older versions left in clear in the session table.

The settings page used to carry a newly created token to the next page in the session
("new_api_token"); a token whose page was never shown stayed there until the session
expired. Tokens are now shown in the response that creates them and never stored.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

OLD_SESSION_KEY = "new_api_token"


def scrub(apps: Any, schema_editor: Any) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    for session in Session.objects.iterator():
        data = store.decode(session.session_data)
        if OLD_SESSION_KEY in data:
            del data[OLD_SESSION_KEY]
            session.session_data = store.encode(data)
            session.save(update_fields=["session_data"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_custom_provider"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
