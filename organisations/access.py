"""Who may do what in an organisation: the one place membership and roles are checked.

Project lookups (``projects.lookup``) and organisation pages, the API, websockets, the
preview proxy and terminals all come through here: a non-member gets the same answer as
for something that does not exist (404), a member whose role is not enough gets
:class:`RoleRequired` (403) naming the role needed.
"""

from __future__ import annotations

from django.http import Http404

from organisations.errors import RoleRequired
from organisations.models import Membership, Organisation
from organisations.roles import Ability, allows

NO_SUCH_ORGANISATION = "No such organisation."


def role_of(user: object, organisation_id: int) -> str | None:
    """`user`'s role in the organisation, or None (not a member, anonymous, inactive)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return None
    return (
        Membership.objects.filter(
            organisation_id=organisation_id, user_id=getattr(user, "pk", None) or 0
        )
        .values_list("role", flat=True)
        .first()
    )


def require(role: str | None, ability: Ability, organisation_name: str) -> None:
    """Raise unless `role` allows `ability`: 404 for a non-member, 403 for a weak role."""
    if role is None:
        raise Http404(NO_SUCH_ORGANISATION)
    if not allows(role, ability):
        raise RoleRequired(ability, role, organisation_name)


def organisation_for_user(
    user: object, public_id: str, ability: Ability = Ability.VIEW
) -> tuple[Organisation, str]:
    """The organisation and `user`'s role in it, if the role allows `ability`."""
    organisation = Organisation.objects.of_user(user).filter(public_id=public_id).first()
    if organisation is None:
        raise Http404(NO_SUCH_ORGANISATION)
    role = role_of(user, organisation.pk)
    require(role, ability, organisation.name)
    assert role is not None
    return organisation, role
