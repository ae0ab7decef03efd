"""Personal API tokens: created with a name, shown once, stored hashed, revocable."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import TOKEN_PREFIX, ApiToken, User, hash_token

# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_api_token(
    user: User, name: str, scope: str = ApiToken.SCOPE_FULL
) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never retrievable again."""
    body = secrets.token_urlsafe(32)
    raw = f"{TOKEN_PREFIX}{body}"
    token = ApiToken.objects.create(
        user=user, name=name.strip(), scope=scope, prefix=raw[:10], token_hash=hash_token(raw)
    )
    return token, raw


def authenticate_api_token(raw: str) -> ApiToken | None:
    """Return the active token for a raw value (updating its last use), or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(token_hash=hash_token(raw), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def revoke_api_token(token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db()
