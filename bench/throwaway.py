"""A benchmark's own database and environment, so a bench never touches the developer's data.

``throwaway_environment`` names a database of its own next to the app's (same role and
password), ``create_database``/``drop_database`` make and remove it, and ``use_django``
migrates it and loads the settings again with the bench's environment, checking that they
point where they should before anything writes.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def throwaway_environment(
    label: str, work: Path, extra: dict[str, str] | None = None
) -> tuple[dict[str, str], str, str]:
    """(environment, database name, admin URL) for a bench labelled ``label``."""
    from starter.settings import DATABASE_URL as base_url  # the app's role and password

    suffix = os.getpid()
    database = f"bench_{label.replace('-', '_')}_{suffix}"
    server = base_url.rsplit("/", 1)[0]
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"{server}/{database}",
            "STARTER_DATA_DIR": str(work),
            "STARTER_REDIS_PREFIX": f"bench-{label}-{suffix}",
            "DEBUG": "false",
            "SECRET_KEY": f"bench-secret-{suffix}-" + "x" * 40,
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }
    )
    return env, database, f"{server}/postgres"


def create_database(admin_url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')


def drop_database(admin_url: str, database: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def use_django(env: dict[str, str], database: str) -> None:
    """Migrate the bench's database and set Django up on it (asserting that it is)."""
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    import django

    import starter.settings

    # Imported before for the role's URL: read again with this bench's environment.
    importlib.reload(starter.settings)
    os.environ["DJANGO_SETTINGS_MODULE"] = "starter.settings"
    django.setup()
    from django.conf import settings

    assert settings.DATABASES["default"]["NAME"] == database, "not the bench's database"
    assert settings.STARTER_REDIS_PREFIX == env["STARTER_REDIS_PREFIX"]
