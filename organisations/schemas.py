"""Shapes of the organisations API (``/api/v1/organisations``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from organisations.models import AuditEntry, Invitation, Membership, Organisation
from organisations.roles import Role


class OrganisationIn(Schema):
    name: str = Field(min_length=1, max_length=200)


class OrganisationOut(Schema):
    id: str = Field(description="The organisation's public id.")
    name: str
    personal: bool = Field(description="The personal organisation made with an account.")
    role: Role = Field(description="Your role in it.")
    created_at: datetime

    @classmethod
    def of(cls, organisation: Organisation, role: str) -> OrganisationOut:
        return cls(
            id=organisation.public_id,
            name=organisation.name,
            personal=organisation.is_personal,
            role=Role(role),
            created_at=organisation.created_at,
        )


class MemberOut(Schema):
    user_id: int
    email: str
    role: Role
    joined_at: datetime

    @classmethod
    def of(cls, membership: Membership) -> MemberOut:
        return cls(
            user_id=membership.user_id,
            email=membership.user.email,
            role=Role(membership.role),
            joined_at=membership.created_at,
        )


class RoleIn(Schema):
    role: Role


class InvitationIn(Schema):
    email: str = Field(max_length=254)
    role: Role = Role.MEMBER


class InvitationOut(Schema):
    id: int
    email: str
    role: Role
    invited_by: str | None
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        return cls(
            id=invitation.pk,
            email=invitation.email,
            role=Role(invitation.role),
            invited_by=invitation.invited_by.email if invitation.invited_by else None,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
        )


class NewInvitationOut(InvitationOut):
    url: str = Field(description="The link, returned only now: only its hash is kept.")


class AuditEntryOut(Schema):
    id: int
    actor: str | None = Field(
        description="Who did it (their e-mail at the time); null: the system."
    )
    action: str
    action_label: str
    subject: str
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.pk,
            actor=entry.actor_email or None,
            action=entry.action,
            action_label=entry.get_action_display(),
            subject=entry.subject,
            details=entry.details,
            created_at=entry.created_at,
        )


class AuditFilters(Schema):
    action: str | None = Field(None, description="Only this action (e.g. member.invited).")
    actor: str | None = Field(None, description="Only entries by this e-mail address.")
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class AuditPage(Schema):
    items: list[AuditEntryOut]
    count: int
    limit: int
    offset: int
