"""The app reaches PostgreSQL as a role that cannot take over the server: a Sprite that
got hold of its credentials could read and write Starter's tables, but not become
PostgreSQL's superuser, run programs on the host or touch other databases' owners."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import ProgrammingError, connection

from starter.settings import _database_from_url

pytestmark = pytest.mark.django_db


def test_the_app_connects_as_a_role_that_is_not_a_superuser() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, is_superuser = cursor.fetchone()
    assert user == settings.DATABASES["default"]["USER"]
    assert is_superuser is False


def test_the_app_role_has_a_password() -> None:
    assert settings.DATABASES["default"]["PASSWORD"]


def refused_for_lack_of_privilege(sql: str) -> bool:
    with pytest.raises(ProgrammingError) as refused, connection.cursor() as cursor:
        cursor.execute(sql)
    return isinstance(refused.value.__cause__, psycopg.errors.InsufficientPrivilege)


def test_the_app_role_cannot_run_programs_on_the_host() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE program_output (line text)")
    assert refused_for_lack_of_privilege("COPY program_output FROM PROGRAM 'id'")


def test_the_app_role_cannot_read_the_servers_files() -> None:
    assert refused_for_lack_of_privilege("SELECT pg_read_file('/etc/passwd')")


def test_database_urls_carry_percent_encoded_credentials() -> None:
    database = _database_from_url("postgresql://app%40ops:p%2Fss%3Aword@db.internal:6543/main")
    assert database["USER"] == "app@ops" and database["PASSWORD"] == "p/ss:word"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.internal", "6543", "main")
