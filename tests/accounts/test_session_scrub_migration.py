from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from accounts.models import User

scrub_migration = import_module("accounts.migrations.0003_scrub_new_api_tokens_from_sessions")


def test_tokens_left_in_sessions_by_older_versions_are_removed(alice: User) -> None:
    old = SessionStore()
    old["_auth_user_id"] = str(alice.pk)
    old["new_api_token"] = "st_left-behind-by-an-older-version"
    old.create()

    scrub_migration.scrub(apps, None)

    row = Session.objects.get(session_key=old.session_key)
    assert row.get_decoded() == {"_auth_user_id": str(alice.pk)}
