"""The organisation a signed-in person is working in (the switcher writes it).

``request.session["organisation"]`` holds an organisation's public id; it counts only while
the person is still a member, else their personal organisation is the current one.
"""

from __future__ import annotations

from django.http import HttpRequest

from organisations.models import Organisation
from organisations.personal import personal_organisation_of

SESSION_KEY = "organisation"


def current_organisation(request: HttpRequest) -> Organisation:
    user = request.user
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if isinstance(chosen, str) and chosen:
        found = Organisation.objects.of_user(user).filter(public_id=chosen).first()
        if found is not None:
            return found
    return personal_organisation_of(user)
