"""Invitations by e-mail: a signed, expiring, single-use link to join with a role.

The link carries a 32-byte random secret (``/invitations/<secret>/``); only its SHA-256
is stored, so neither the database nor the audit log can give the link away. It is shown
once to the inviter (the API returns it) and mailed to the invitee.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from organisations import audit
from organisations.access import organisation_for_user, role_of
from organisations.errors import OrganisationError
from organisations.models import AuditAction, Invitation, Membership, Organisation
from organisations.roles import RANK, Ability, Role

VALID_FOR = timedelta(days=7)
SECRET_BYTES = 32
MAX_PENDING = 100


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invitation_path(secret: str) -> str:
    return reverse("organisations:invitation", args=[secret])


def invitation_url(secret: str) -> str:
    return settings.SITE_URL + invitation_path(secret)


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    url: str  # shown once: the secret is not kept anywhere


def clean_email(email: str) -> str:
    email = str(email).strip()
    try:
        validate_email(email)
    except Exception:
        raise OrganisationError(f"{email[:80]!r} is not an e-mail address.") from None
    return email


def clean_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(choice.value for choice in Role)
        raise OrganisationError(
            f"Unknown role {str(role)[:20]!r}; choose one of {choices}."
        ) from None


def grantable(actor_role: str, role: Role) -> None:
    """An inviter (or a role changer) gives at most their own role; only owners make owners."""
    if role == Role.OWNER and actor_role != Role.OWNER:
        raise OrganisationError("Only an owner can make someone an owner.", 403)
    if RANK[role] > RANK.get(actor_role, 0):
        raise OrganisationError("You cannot give a role above your own.", 403)


def pending_invitations(organisation: Organisation) -> QuerySet[Invitation]:
    return organisation.invitations.filter(
        accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def invite(actor: object, organisation: Organisation, email: str, role: str) -> NewInvitation:
    """Invite `email` with `role` (MANAGE; the role at most the inviter's) and mail the link."""
    _, actor_role = organisation_for_user(actor, organisation.public_id, Ability.MANAGE)
    email = clean_email(email)
    wanted = clean_role(role)
    grantable(actor_role, wanted)
    if Membership.objects.filter(organisation=organisation, user__email__iexact=email).exists():
        raise OrganisationError(f"{email} is already a member of {organisation.name!r}.", 409)
    if pending_invitations(organisation).count() >= MAX_PENDING:
        raise OrganisationError(
            f"{organisation.name!r} has {MAX_PENDING} pending invitations; revoke some first.",
            409,
        )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    now = timezone.now()
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organisation=organisation,
            email=email,
            role=wanted,
            token_hash=secret_hash(secret),
            invited_by_id=getattr(actor, "pk", None),
            created_at=now,
            expires_at=now + VALID_FOR,
        )
        audit.record(organisation.pk, actor, AuditAction.MEMBER_INVITED, email, role=wanted.value)
    url = invitation_url(secret)
    inviter = str(getattr(actor, "email", "") or "Someone")
    send_mail(
        f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{inviter} invites you to {organisation.name}",
        f"{inviter} invites you to join {organisation.name!r} on Starter as "
        f"{wanted.label.lower()}.\n\nOpen this link to accept (it works once, for "
        f"{VALID_FOR.days} days):\n\n{url}\n\nIf you did not expect this, ignore this mail.\n",
        None,
        [email],
    )
    return NewInvitation(invitation, url)


def revoke_invitation(actor: object, organisation: Organisation, invitation_id: int) -> Invitation:
    organisation_for_user(actor, organisation.public_id, Ability.MANAGE)
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(organisation=organisation, pk=invitation_id)
            .first()
        )
        if invitation is None or not invitation.is_pending:
            raise OrganisationError("No such pending invitation.", 404)
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            organisation.pk, actor, AuditAction.INVITATION_REVOKED, invitation.email,
            role=invitation.role,
        )  # fmt: skip
    return invitation


class InvitationUnusable(OrganisationError):
    """The link is unknown, expired, used or revoked: a page that says which."""


def invitation_for_secret(secret: str) -> Invitation:
    """The pending invitation of a link; `InvitationUnusable` says why one is not."""
    invitation = (
        Invitation.objects.select_related("organisation", "invited_by")
        .filter(token_hash=secret_hash(secret))
        .first()
        if 20 <= len(secret) <= 100
        else None
    )
    if invitation is None:
        raise InvitationUnusable("This invitation link is not valid. Ask for a new one.", 404)
    if invitation.accepted_at is not None:
        raise InvitationUnusable("This invitation has already been used.", 410)
    if invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was withdrawn. Ask for a new one.", 410)
    if invitation.expires_at <= timezone.now():
        raise InvitationUnusable("This invitation has expired. Ask for a new one.", 410)
    return invitation


def email_matches(user: object, email: str) -> bool:
    """The user has verified `email` (the address the invitation was sent to)."""
    return EmailAddress.objects.filter(
        user_id=getattr(user, "pk", None) or 0, email__iexact=email, verified=True
    ).exists()


def accept_invitation(user: object, secret: str) -> Membership:
    """Join the invitation's organisation with its role (once; the address must match)."""
    with transaction.atomic():
        invitation = invitation_for_secret(secret)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_pending:  # used or revoked by a request that won the lock
            invitation_for_secret(secret)
        if not email_matches(user, invitation.email):
            raise OrganisationError(
                f"This invitation is for {invitation.email}; sign in with that address "
                "(verified) to accept it.",
                403,
            )
        organisation = invitation.organisation
        if role_of(user, organisation.pk) is not None:
            raise OrganisationError(f"You are already a member of {organisation.name!r}.", 409)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    organisation=organisation, user_id=getattr(user, "pk", None) or 0,
                    role=invitation.role,
                )  # fmt: skip
        except IntegrityError:
            raise OrganisationError(
                f"You are already a member of {organisation.name!r}.", 409
            ) from None
        invitation.accepted_at = timezone.now()
        invitation.accepted_by_id = getattr(user, "pk", None)
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit.record(
            organisation.pk, user, AuditAction.INVITATION_ACCEPTED, invitation.email,
            role=invitation.role,
        )  # fmt: skip
    return membership
