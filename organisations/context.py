"""The top bar's organisation switcher, on every page (a template context processor)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from organisations.actions import organisations_of
from organisations.current import current_organisation


def organisations(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: pages that render no top bar (JSON, fragments) never query for it.
    return {
        "current_organisation": SimpleLazyObject(lambda: current_organisation(request)),
        "my_organisations": SimpleLazyObject(lambda: organisations_of(user)),
    }
