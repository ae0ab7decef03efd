"""After a password reset or change: end the user's other sessions and revoke their tokens.

Whoever knew the old password (or held an account registered with someone else's
address) may have kept a browser session or created API tokens; a new password must shut
them all out. Django already refuses sessions whose password hash is stale; deleting
them outright also covers the session rows themselves. The person is told what was
revoked, on the page and by e-mail, since their programs (and the general agent) stop
working until they create new tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.adapter import site_url
from accounts.models import ApiToken, User


@dataclass(frozen=True)
class Revoked:
    sessions: int
    tokens: int

    @property
    def anything(self) -> bool:
        return bool(self.sessions or self.tokens)

    def describe(self) -> str:
        parts = []
        if self.sessions:
            plural = "s" if self.sessions != 1 else ""
            parts.append(f"signed out {self.sessions} other session{plural}")
        if self.tokens:
            plural = "s" if self.tokens != 1 else ""
            parts.append(f"revoked {self.tokens} API token{plural}")
        return " and ".join(parts)


def _session_keys_of(user: User) -> list[str]:
    # Session rows do not index the user (the data is encoded), so the live ones are read;
    # a password reset or change is rare enough for that.
    keys = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk):
            keys.append(session.session_key)
    return keys


def revoke_sessions_and_tokens(user: User, *, keep_session_key: str | None) -> Revoked:
    """Delete every session of `user` but `keep_session_key`, and revoke all their tokens.

    Tokens of every scope go, the general agent's included (its page offers to renew it).
    """
    keys = [key for key in _session_keys_of(user) if key != keep_session_key]
    sessions, _ = Session.objects.filter(session_key__in=keys).delete()
    tokens = ApiToken.objects.for_user(user).active().update(revoked_at=timezone.now())
    return Revoked(sessions=sessions, tokens=tokens)


def notice(revoked: Revoked) -> str:
    text = f"For your security we {revoked.describe()}."
    if revoked.tokens:
        text += (
            " Programs that used those tokens stop working: create new tokens on the Settings "
            "page (and renew the general agent's access on its page if you use it)."
        )
    return text


def tell_user(request: HttpRequest, user: User, revoked: Revoked, *, reason: str) -> None:
    """A message on the next page and an e-mail; nothing when nothing was revoked."""
    if not revoked.anything:
        return
    messages.warning(request, notice(revoked))
    get_adapter(request).send_mail(
        "account/email/credentials_revoked",
        user.email,
        {
            "user": user,
            "reason": reason,
            "revoked_notice": notice(revoked),
            "password_reset_url": site_url(reverse("account_reset_password")),
        },
    )
