"""allauth, the Starter way: e-mail links from the site URL, failed logins limited in Redis.

A request's ``Host`` header is chosen by whoever sends the request, so a password reset
asked for with ``Host: evil.example`` must still mail a link to ``STARTER_SITE_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailConfirmation
from allauth.core import context as allauth_context
from django import forms
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.urls import reverse

from accounts import login_limits


def site_url(path: str) -> str:
    """The absolute URL of `path` on the site, as configured (never from a request)."""
    return settings.SITE_URL + path


@dataclass(frozen=True)
class ConfiguredSite:
    """Stands in for django.contrib.sites' Site in e-mail templates (``current_site``)."""

    domain: str
    name: str


def configured_site() -> ConfiguredSite:
    host = urlparse(settings.SITE_URL).netloc
    return ConfiguredSite(domain=host, name=host)


def _pin_links_to_site(request: HttpRequest | None, context: dict[str, Any]) -> dict[str, Any]:
    """Rewrite any URL in an e-mail's context that allauth built from the request's host.

    The two links that matter (reset, verification) are built from the site URL below;
    this catches the others allauth builds itself (the sign-up link of the "unknown
    account" mail, the reset link of the "account already exists" mail).
    """
    if request is None:
        return context
    request_origin = request.build_absolute_uri("/")
    pinned = {}
    for name, value in context.items():
        if isinstance(value, str) and value.startswith(request_origin):
            value = site_url("/" + value.removeprefix(request_origin))
        pinned[name] = value
    return pinned


# Where organisations/pages.py keeps an invitation's secret while its invitee signs up.
PENDING_INVITATION_SESSION_KEY = "pending_invitation"


def _pending_invitation_url(request: HttpRequest | None) -> str | None:
    """Someone who opened an invitation link, then signed up or logged in, goes back to it
    (the URL carries no secret: the session keeps it)."""
    session = getattr(request, "session", None)
    if session is None or not session.get(PENDING_INVITATION_SESSION_KEY):
        return None
    return reverse("organisations:invitation_pending")


class StarterAccountAdapter(DefaultAccountAdapter):
    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return site_url(path.replace("UID-KEY", quote(key)))

    def get_email_confirmation_url(
        self, request: HttpRequest | None, emailconfirmation: EmailConfirmation
    ) -> str:
        return site_url(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return _pending_invitation_url(request) or super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        # Kept by allauth with the pending login, and followed once the address is verified.
        return _pending_invitation_url(request) or super().get_signup_redirect_url(request)

    def get_email_verification_redirect_url(self, email_address: Any) -> str:
        return _pending_invitation_url(self.request) or super().get_email_verification_redirect_url(
            email_address
        )

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        request = allauth_context.request
        context = {**_pin_links_to_site(request, context), "current_site": configured_site()}
        super().send_mail(template_prefix, email, context)

    def authenticate(self, request: HttpRequest, **credentials: Any) -> AbstractBaseUser | None:
        account = str(credentials.get("email") or credentials.get("username") or "")
        try:
            attempt = login_limits.begin_attempt(account, self.get_client_ip(request))
        except login_limits.LoginThrottled as throttled:
            raise forms.ValidationError(throttled.message, code="too_many_login_attempts") from None
        user = super().authenticate(request, **credentials)
        if user is not None:
            login_limits.forget_attempt(attempt)
        return user
