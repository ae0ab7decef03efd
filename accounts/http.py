"""The request type of views that only signed-in people reach.

``@login_required`` guarantees ``request.user`` is a ``User``; annotating such a view's
request as ``AuthenticatedHttpRequest`` tells the type checker so, instead of a helper that
asserts it in every view (the healthchecks ``hc/accounts/http.py`` idea).
"""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User
