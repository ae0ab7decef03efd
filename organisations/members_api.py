"""The organisations API (``/api/v1/organisations``): organisations, members, invitations
and the audit log. (Organisation settings, keys and budgets: ``organisations/api.py``.)

Each operation finds the organisation through ``organisations.access`` (a non-member gets
404, a weak role 403 naming the role needed; a token limited to one organisation finds no
other) and calls the same domain function as the pages.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Path, Query, Router
from ninja.responses import Status as Reply

from accounts.api_auth import principal_of
from organisations import actions, invitations, members
from organisations.access import NO_SUCH_ORGANISATION, organisation_for_user
from organisations.models import AuditEntry, Organisation
from organisations.roles import Ability, Role
from organisations.schemas import (
    AuditEntryOut,
    AuditFilters,
    AuditPage,
    InvitationIn,
    InvitationOut,
    MemberOut,
    NewInvitationOut,
    OrganisationIn,
    OrganisationOut,
    RoleIn,
)
from starter.api_errors import BASE_ERRORS, responses

router = Router(tags=["organisations"])

# Ids are bigint in the database: a larger number is simply no such row (404), not a 500.
IdPath = Path(..., ge=1, le=2**63 - 1)

ONE = (*BASE_ERRORS, 404)


def _organisation(
    request: HttpRequest, public_id: str, ability: Ability = Ability.VIEW
) -> tuple[Organisation, str]:
    principal = principal_of(request)
    organisation, role = organisation_for_user(principal.user, public_id, ability)
    if principal.organisation_id is not None and organisation.pk != principal.organisation_id:
        raise Http404(NO_SUCH_ORGANISATION)
    return organisation, role


# -- organisations ------------------------------------------------------------------------------


@router.get(
    "",
    response=responses({200: list[OrganisationOut]}, *BASE_ERRORS),
    summary="List your organisations",
)
def list_organisations(request: HttpRequest) -> list[OrganisationOut]:
    principal = principal_of(request)
    return [
        OrganisationOut.of(organisation, role)
        for organisation, role in actions.organisations_of(principal.user)
        if principal.organisation_id in (None, organisation.pk)
    ]


@router.post(
    "",
    response=responses({201: OrganisationOut}, *BASE_ERRORS, 400, 409),
    summary="Create an organisation (you become its owner)",
)
def create_organisation(request: HttpRequest, payload: OrganisationIn) -> Reply[OrganisationOut]:
    organisation = actions.create_organisation(principal_of(request).user, payload.name)
    return Reply(201, OrganisationOut.of(organisation, Role.OWNER))


@router.get(
    "/{organisation_id}",
    response=responses({200: OrganisationOut}, *ONE),
    summary="Get an organisation",
)
def get_organisation(request: HttpRequest, organisation_id: str) -> OrganisationOut:
    return OrganisationOut.of(*_organisation(request, organisation_id))


@router.patch(
    "/{organisation_id}",
    response=responses({200: OrganisationOut}, *ONE, 400),
    summary="Rename an organisation (admin)",
)
def rename_organisation(
    request: HttpRequest, organisation_id: str, payload: OrganisationIn
) -> OrganisationOut:
    organisation, role = _organisation(request, organisation_id, Ability.MANAGE)
    actions.rename_organisation(principal_of(request).user, organisation, payload.name)
    return OrganisationOut.of(organisation, role)


@router.delete(
    "/{organisation_id}",
    response=responses({204: None}, *ONE, 409),
    summary="Delete an organisation without projects (owner)",
)
def delete_organisation(request: HttpRequest, organisation_id: str) -> Reply[None]:
    organisation, _ = _organisation(request, organisation_id, Ability.OWN)
    actions.delete_organisation(principal_of(request).user, organisation)
    return Reply(204, None)


@router.post(
    "/{organisation_id}/leave",
    response=responses({204: None}, *ONE, 409),
    summary="Leave an organisation",
)
def leave(request: HttpRequest, organisation_id: str) -> Reply[None]:
    organisation, _ = _organisation(request, organisation_id)
    members.leave(principal_of(request).user, organisation)
    return Reply(204, None)


# -- members --------------------------------------------------------------------------------------


@router.get(
    "/{organisation_id}/members",
    response=responses({200: list[MemberOut]}, *ONE),
    summary="List the members",
)
def list_members(request: HttpRequest, organisation_id: str) -> list[MemberOut]:
    organisation, _ = _organisation(request, organisation_id)
    return [MemberOut.of(membership) for membership in members.members_of(organisation)]


@router.patch(
    "/{organisation_id}/members/{user_id}",
    response=responses({200: MemberOut}, *ONE, 400, 409),
    summary="Change a member's role (admin; owners for owners)",
)
def change_role(
    request: HttpRequest, organisation_id: str, payload: RoleIn, user_id: int = IdPath
) -> MemberOut:
    organisation, _ = _organisation(request, organisation_id, Ability.MANAGE)
    membership = members.change_role(
        principal_of(request).user, organisation, user_id, payload.role
    )
    return MemberOut.of(membership)


@router.delete(
    "/{organisation_id}/members/{user_id}",
    response=responses({204: None}, *ONE, 400, 409),
    summary="Remove a member (admin): their open sockets close at once",
)
def remove_member(request: HttpRequest, organisation_id: str, user_id: int = IdPath) -> Reply[None]:
    organisation, _ = _organisation(request, organisation_id, Ability.MANAGE)
    members.remove_member(principal_of(request).user, organisation, user_id)
    return Reply(204, None)


# -- invitations ----------------------------------------------------------------------------------


@router.get(
    "/{organisation_id}/invitations",
    response=responses({200: list[InvitationOut]}, *ONE),
    summary="List pending invitations (admin)",
)
def list_invitations(request: HttpRequest, organisation_id: str) -> list[InvitationOut]:
    organisation, _ = _organisation(request, organisation_id, Ability.MANAGE)
    return [InvitationOut.of(found) for found in invitations.pending_invitations(organisation)]


@router.post(
    "/{organisation_id}/invitations",
    response=responses({201: NewInvitationOut}, *ONE, 400, 409),
    summary="Invite someone by e-mail (admin); the link is returned only now",
)
def create_invitation(
    request: HttpRequest, organisation_id: str, payload: InvitationIn
) -> Reply[NewInvitationOut]:
    organisation, _ = _organisation(request, organisation_id, Ability.MANAGE)
    new = invitations.invite(principal_of(request).user, organisation, payload.email, payload.role)
    out = InvitationOut.of(new.invitation)
    return Reply(201, NewInvitationOut(**out.model_dump(), url=new.url))


@router.delete(
    "/{organisation_id}/invitations/{invitation_id}",
    response=responses({204: None}, *ONE),
    summary="Revoke an invitation (admin)",
)
def revoke_invitation(
    request: HttpRequest, organisation_id: str, invitation_id: int = IdPath
) -> Reply[None]:
    organisation, _ = _organisation(request, organisation_id, Ability.MANAGE)
    invitations.revoke_invitation(principal_of(request).user, organisation, invitation_id)
    return Reply(204, None)


# -- audit log ------------------------------------------------------------------------------------


@router.get(
    "/{organisation_id}/audit",
    response=responses({200: AuditPage}, *ONE),
    summary="The audit log (admin), newest first",
)
def audit_log(
    request: HttpRequest, organisation_id: str, filters: Query[AuditFilters]
) -> AuditPage:
    organisation, _ = _organisation(request, organisation_id, Ability.MANAGE)
    entries = AuditEntry.objects.filter(organisation=organisation).order_by("-created_at", "-pk")
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.actor:
        entries = entries.filter(actor_email__iexact=filters.actor)
    if filters.since:
        entries = entries.filter(created_at__gte=filters.since)
    if filters.until:
        entries = entries.filter(created_at__lt=filters.until)
    limit, offset = filters.limit, filters.offset
    page = [AuditEntryOut.of(entry) for entry in entries[offset : offset + limit]]
    return AuditPage(items=page, count=entries.count(), limit=limit, offset=offset)
