"""Re-encrypt every stored secret under the newest key of STARTER_ENCRYPTION_KEYS.

Rotation: put a new key first in STARTER_ENCRYPTION_KEYS (keep the old one after it), run
this command, then remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accounts import crypto
from accounts.fields import EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt all secret columns with the first key of STARTER_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            for field in model._meta.get_fields():
                if isinstance(field, EncryptedTextField):
                    total += self._rotate_column(model._meta.db_table, field.column)
        self.stdout.write(f"Re-encrypted {total} value(s).")

    @transaction.atomic
    def _rotate_column(self, table: str, column: str) -> int:
        # Raw SQL: the field would decrypt on read and encrypt on write anyway, but working on
        # the tokens directly never materialises a plaintext value in Python objects.
        quoted_table, quoted_column = (
            connection.ops.quote_name(table),
            connection.ops.quote_name(column),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {quoted_column} FROM {quoted_table} "  # noqa: S608
                f"WHERE {quoted_column} <> '' FOR UPDATE"
            )
            rows = cursor.fetchall()
            for row_id, token in rows:
                cursor.execute(
                    f"UPDATE {quoted_table} SET {quoted_column} = %s WHERE id = %s",  # noqa: S608
                    [crypto.rotate(token), row_id],
                )
        return len(rows)
