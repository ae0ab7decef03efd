"""Every user's personal organisation: made with the account, owned by them alone."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from organisations.models import Membership, Organisation
from organisations.roles import Role


def personal_name(email: str) -> str:
    return f"{email} (personal)"[:100]


def personal_organisation_of(user: object) -> Organisation:
    """The user's personal organisation, made (with their owner membership) if missing."""
    user_id: int = getattr(user, "pk", None) or 0
    found = Organisation.objects.filter(personal_of_id=user_id).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(
                name=personal_name(str(getattr(user, "email", ""))), personal_of_id=user_id
            )
            Membership.objects.create(organisation=organisation, user_id=user_id, role=Role.OWNER)
            return organisation
    except IntegrityError:
        # Made at the same time by another request.
        return Organisation.objects.get(personal_of_id=user_id)
