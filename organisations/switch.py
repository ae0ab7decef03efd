"""Choosing the organisation to work in (the top bar's switcher and the command palette);
``organisations.current`` reads the choice back, checking membership each time."""

from __future__ import annotations

from django.http import HttpRequest

from organisations.current import SESSION_KEY
from organisations.models import Organisation


def switch_organisation(request: HttpRequest, organisation: Organisation) -> None:
    """Work in `organisation` from now on (the caller has checked membership)."""
    request.session[SESSION_KEY] = organisation.public_id
