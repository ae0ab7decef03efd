"""Encryption at rest for secret values (API keys, Sprites tokens, project secrets).

A MultiFernet over `settings.ENCRYPTION_KEYS`: the first key encrypts, every key decrypts,
so an operator rotates by putting a new key first and running
`manage.py rotate_encryption_keys`, then dropping the old key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@lru_cache(maxsize=1)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored secret cannot be decrypted with the configured keys") from exc


def rotate(token: str) -> str:
    """Re-encrypt a stored value under the newest key."""
    return cipher().rotate(token.encode()).decode()
