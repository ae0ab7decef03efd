"""nanoid-style public identifiers: opaque, URL-safe, not enumerable."""

from __future__ import annotations

import secrets

# No '-' or '_': public ids appear as DNS labels in preview hostnames
# (<public_id>.<preview domain>), which must be lower-case letters and digits.
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
LENGTH = 16  # 36^16 ≈ 8e24 ids: collisions are not a practical concern.


def new_public_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def looks_like_public_id(value: str) -> bool:
    return len(value) == LENGTH and all(ch in ALPHABET for ch in value)
