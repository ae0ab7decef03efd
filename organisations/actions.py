"""What people do with organisations: create, rename, delete, list. Pages, the REST API and
the admin call these; each writes its audit entry."""

from __future__ import annotations

from django.db import transaction

from organisations import audit
from organisations.access import organisation_for_user
from organisations.errors import OrganisationError
from organisations.models import AuditAction, Membership, Organisation
from organisations.roles import Ability, Role
from projects.models import Project, Status

MAX_NAME = 100
MAX_ORGANISATIONS_CREATED = 20


def clean_organisation_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise OrganisationError("Give the organisation a name.")
    if len(name) > MAX_NAME:
        raise OrganisationError(f"An organisation name has at most {MAX_NAME} characters.")
    return name


def organisations_of(user: object) -> list[tuple[Organisation, str]]:
    """The user's organisations with their role in each, personal first then by name."""
    memberships = (
        Membership.objects.filter(user_id=getattr(user, "pk", None) or 0)
        .select_related("organisation")
        .order_by("organisation__personal_of", "organisation__name", "organisation__pk")
    )
    found = [(membership.organisation, membership.role) for membership in memberships]
    return sorted(found, key=lambda pair: (not pair[0].is_personal, pair[0].name.lower()))


def create_organisation(creator: object, name: str) -> Organisation:
    """A new organisation whose only member, its owner, is `creator`."""
    name = clean_organisation_name(name)
    owned = Membership.objects.filter(
        user_id=getattr(creator, "pk", None) or 0, role=Role.OWNER
    ).count()
    if owned >= MAX_ORGANISATIONS_CREATED:
        raise OrganisationError(
            f"You own {owned} organisations, the most one person may; delete one first.", 409
        )
    with transaction.atomic():
        organisation = Organisation.objects.create(name=name)
        Membership.objects.create(
            organisation=organisation, user_id=getattr(creator, "pk", None) or 0, role=Role.OWNER
        )
        audit.record(organisation.pk, creator, AuditAction.ORGANISATION_CREATED, name)
    return organisation


def rename_organisation(actor: object, organisation: Organisation, name: str) -> Organisation:
    organisation_for_user(actor, organisation.public_id, Ability.MANAGE)
    name = clean_organisation_name(name)
    old = organisation.name
    if name == old:
        return organisation
    with transaction.atomic():
        organisation.name = name
        organisation.save(update_fields=["name", "updated_at"])
        audit.record(organisation.pk, actor, AuditAction.ORGANISATION_RENAMED, name, previous=old)
    return organisation


def delete_organisation(actor: object, organisation: Organisation) -> None:
    """Delete an organisation that has no projects left (owners only).

    Refused while it has live projects: destroying a project frees its Sprite, which a
    cascade in the database never would.
    """
    organisation_for_user(actor, organisation.public_id, Ability.OWN)
    if organisation.is_personal:
        raise OrganisationError("A personal organisation cannot be deleted.", 409)
    with transaction.atomic():
        locked = Organisation.objects.select_for_update().get(pk=organisation.pk)
        live = Project.objects.filter(organisation=locked).exclude(status=Status.DESTROYED)
        count = live.count()
        if count:
            raise OrganisationError(
                f"{locked.name!r} still has {count} project{'s' if count != 1 else ''}: "
                "destroy its projects first.",
                409,
            )
        Project.objects.filter(organisation=locked).delete()
        locked.delete()
