"""A model field whose database column only ever holds ciphertext."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts import crypto


class EncryptedTextField(models.TextField):
    """Stores `str` values encrypted with accounts.crypto; `""` stays empty (means "not set").

    The column holds Fernet tokens, so neither a database dump nor a log of a query shows
    the value.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))
