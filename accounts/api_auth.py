"""Who is calling the REST API: a personal token (``Authorization: Bearer st_…``) or the
browser session (with its CSRF token), for the same endpoints.

Both resolve to an :class:`ApiPrincipal`. Tokens with the ``general_agent`` scope reach
only the operations declared with :data:`GENERAL_AGENT_ACCESS`; anywhere else they get a
403 that says so (not a 401: the token is valid, it just may not do this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from accounts.models import ApiToken, User
from accounts.tokens import authenticate_api_token


@dataclass(frozen=True)
class ApiPrincipal:
    user: User
    token: ApiToken | None  # None: the browser session

    @property
    def organisation_id(self) -> int | None:
        """The one organisation this caller may act in, or None for all of its user's."""
        return self.token.organisation_id if self.token is not None else None

    @property
    def scope(self) -> str:
        return self.token.scope if self.token is not None else ApiToken.SCOPE_FULL

    @property
    def rate_limit_key(self) -> str:
        """Rate limits count per token; a browser session counts as one more token."""
        return f"token:{self.token.pk}" if self.token is not None else f"session:{self.user.pk}"


class ScopeDenied(Exception):
    """A valid token whose scope does not cover the operation."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


SCOPE_MESSAGE = (
    "This token has the 'general_agent' scope: it may list, create and read projects, run "
    "commands and read or write files in them, nothing else. Use a full-access token."
)


def bearer_value(request: HttpRequest) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def principal_from_token(raw: str, *, allow_general_agent: bool) -> ApiPrincipal | None:
    token = authenticate_api_token(raw)
    if token is None:
        return None
    if token.scope != ApiToken.SCOPE_FULL and not allow_general_agent:
        raise ScopeDenied(SCOPE_MESSAGE)
    return ApiPrincipal(token.user, token)


class BearerTokenAuth(HttpBearer):
    def __init__(self, *, allow_general_agent: bool = False) -> None:
        super().__init__()
        self.allow_general_agent = allow_general_agent

    def __call__(self, request: HttpRequest) -> ApiPrincipal | None:
        # HttpBearer.__call__ logs an unexpected header in DEBUG, and it may hold a secret.
        raw = bearer_value(request)
        return self.authenticate(request, raw) if raw is not None else None

    def authenticate(self, request: HttpRequest, token: str) -> ApiPrincipal | None:
        return principal_from_token(token, allow_general_agent=self.allow_general_agent)


CSRF_MESSAGE = (
    "CSRF check failed: a browser session must send the X-CSRFToken header with the value "
    "of the csrftoken cookie. Programs should use an API token instead."
)


class SessionCsrfAuth(APIKeyCookie):
    """The dashboard's session cookie; unsafe methods also need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> ApiPrincipal | None:
        # Authenticate before checking CSRF, so a caller with no credentials at all gets
        # a 401 rather than a CSRF 403.
        return self.authenticate(request, request.COOKIES.get(self.param_name))

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiPrincipal | None:
        user = request.user
        if not key or not isinstance(user, User) or not user.is_active:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, CSRF_MESSAGE)
        return ApiPrincipal(user, None)


FULL_ACCESS: list[Any] = [BearerTokenAuth(), SessionCsrfAuth()]
GENERAL_AGENT_ACCESS: list[Any] = [BearerTokenAuth(allow_general_agent=True), SessionCsrfAuth()]


def principal_of(request: HttpRequest) -> ApiPrincipal:
    """The caller of an authenticated operation (set by the auth classes above)."""
    principal = getattr(request, "auth", None)
    if not isinstance(principal, ApiPrincipal):
        raise RuntimeError("principal_of() called on an unauthenticated request")
    return principal
