"""Members of an organisation: list, change a role, remove, leave.

A removed member loses everything at once: their pages and API calls fail the next
membership check, and a message on the channel layer (``organisation.member_removed`` to
their ``user.<id>`` group) makes their open project sockets and terminals close (4404);
the preview proxy checks membership on every request.
"""

from __future__ import annotations

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import QuerySet

from organisations import audit
from organisations.access import organisation_for_user
from organisations.errors import OrganisationError
from organisations.invitations import clean_role, grantable
from organisations.models import AuditAction, Membership, Organisation
from organisations.roles import Ability, Role
from projects.broadcast import user_group

logger = logging.getLogger(__name__)

MEMBER_REMOVED: Literal["organisation.member_removed"] = "organisation.member_removed"


class MemberRemoved(TypedDict):
    """Sent to the removed person's ``user.<id>`` group (projects.broadcast.user_group)."""

    type: Literal["organisation.member_removed"]
    user_id: int
    organisation_id: int


def members_of(organisation: Organisation) -> QuerySet[Membership]:
    return organisation.memberships.select_related("user").order_by("created_at", "pk")


def _membership(organisation: Organisation, user_id: int) -> Membership:
    found = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(organisation=organisation, user_id=user_id)
        .first()
    )
    if found is None:
        raise OrganisationError("No such member.", 404)
    return found


def _other_owners(organisation: Organisation, user_id: int) -> int:
    return (
        Membership.objects.filter(organisation=organisation, role=Role.OWNER)
        .exclude(user_id=user_id)
        .count()
    )


def _lock(organisation: Organisation) -> None:
    # Two owners demoting each other at once must not leave the organisation without one.
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()


def change_role(actor: object, organisation: Organisation, user_id: int, role: str) -> Membership:
    """MANAGE; making or unmaking an owner needs OWN; there is always an owner left."""
    _, actor_role = organisation_for_user(actor, organisation.public_id, Ability.MANAGE)
    wanted = clean_role(role)
    with transaction.atomic():
        _lock(organisation)
        membership = _membership(organisation, user_id)
        if membership.role == wanted:
            return membership
        if membership.role == Role.OWNER and actor_role != Role.OWNER:
            raise OrganisationError("Only an owner can change an owner's role.", 403)
        grantable(actor_role, wanted)
        if membership.role == Role.OWNER and not _other_owners(organisation, user_id):
            raise OrganisationError(
                f"{organisation.name!r} needs at least one owner: make someone else owner first.",
                409,
            )
        if organisation.personal_of_id == user_id:
            raise OrganisationError("A personal organisation's person stays its owner.", 409)
        previous = membership.role
        membership.role = wanted
        membership.save(update_fields=["role"])
        audit.record(
            organisation.pk, actor, AuditAction.MEMBER_ROLE_CHANGED, membership.user.email,
            role=wanted.value, previous=previous,
        )  # fmt: skip
    return membership


def remove_member(actor: object, organisation: Organisation, user_id: int) -> None:
    """MANAGE; an owner is removed only by an owner, and never the last one."""
    _, actor_role = organisation_for_user(actor, organisation.public_id, Ability.MANAGE)
    if user_id == getattr(actor, "pk", None):
        raise OrganisationError("To leave the organisation yourself, use Leave.", 400)
    with transaction.atomic():
        _lock(organisation)
        membership = _membership(organisation, user_id)
        if membership.role == Role.OWNER and actor_role != Role.OWNER:
            raise OrganisationError("Only an owner can remove an owner.", 403)
        if organisation.personal_of_id == user_id:
            raise OrganisationError("A personal organisation's person cannot be removed.", 409)
        email = membership.user.email
        membership.delete()
        audit.record(organisation.pk, actor, AuditAction.MEMBER_REMOVED, email)
        transaction.on_commit(lambda: announce_removal(user_id, organisation.pk))


def leave(user: object, organisation: Organisation) -> None:
    """Anyone may leave, except the last owner and the person of a personal organisation."""
    user_id: int = getattr(user, "pk", None) or 0
    organisation_for_user(user, organisation.public_id, Ability.VIEW)
    if organisation.personal_of_id == user_id:
        raise OrganisationError("You cannot leave your personal organisation.", 409)
    with transaction.atomic():
        _lock(organisation)
        membership = _membership(organisation, user_id)
        if membership.role == Role.OWNER and not _other_owners(organisation, user_id):
            raise OrganisationError(
                f"You are the last owner of {organisation.name!r}: make someone else owner "
                "first, or delete the organisation.",
                409,
            )
        membership.delete()
        audit.record(
            organisation.pk, user, AuditAction.MEMBER_LEFT, str(getattr(user, "email", ""))
        )
        transaction.on_commit(lambda: announce_removal(user_id, organisation.pk))


def announce_removal(user_id: int, organisation_id: int) -> None:
    """Tell the person's open sockets (any web process) that they lost the organisation."""
    layer = get_channel_layer()
    if layer is None:
        return
    message: MemberRemoved = {
        "type": MEMBER_REMOVED,
        "user_id": user_id,
        "organisation_id": organisation_id,
    }
    try:
        async_to_sync(layer.group_send)(user_group(user_id), message)
    except Exception:  # the sockets still fail their next check; never fail the removal
        logger.warning("could not announce the removal of user %s", user_id, exc_info=True)
