"""Reactions of accounts/ to allauth's signals (connected in AccountsConfig.ready)."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import password_changed, password_reset
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import login_limits
from accounts.credential_revocation import revoke_sessions_and_tokens, tell_user
from accounts.models import User


@receiver(password_reset)
def revoke_after_password_reset(request: HttpRequest, user: User, **kwargs: Any) -> None:
    # Every session goes, whoever holds it: the reset proves who reads the mailbox, not
    # that any browser signed in so far belongs to that person.
    revoked = revoke_sessions_and_tokens(user, keep_session_key=None)
    login_limits.forgive_account(user.email)
    tell_user(request, user, revoked, reason="reset")


@receiver(password_changed)
def revoke_after_password_change(request: HttpRequest, user: User, **kwargs: Any) -> None:
    # The person changing it keeps this session (update_session_auth_hash); the others go.
    revoked = revoke_sessions_and_tokens(user, keep_session_key=request.session.session_key)
    tell_user(request, user, revoked, reason="changed")
