"""Organisations (the tenant), who belongs to them with which role, invitations and the
audit log.

Every user has a personal organisation (created with the account); projects, their secrets,
custom providers, provider keys, the Sprites token, budgets and usage belong to an
organisation. A user's defaults and API tokens stay personal.
"""

from __future__ import annotations

import json
import secrets
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.fields import EncryptedTextField
from organisations.roles import Role


def new_organisation_id() -> str:
    """Opaque and not enumerable, like projects' public ids (lower-case hex, URL-safe)."""
    return secrets.token_hex(8)


class OrganisationQuerySet(models.QuerySet["Organisation"]):
    def of_user(self, user: object) -> OrganisationQuerySet:
        """The organisations `user` belongs to (any role); nothing for anonymous users."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(memberships__user_id=getattr(user, "pk", None) or 0)


class Organisation(models.Model):
    public_id = models.CharField(
        max_length=32, unique=True, default=new_organisation_id, editable=False
    )
    name = models.CharField(max_length=100)
    # The organisation made with the account: it cannot be deleted or left by its person.
    personal_of = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_organisation",
    )
    # JSON map provider -> key, encrypted as one blob; `api_keys_set_at` (not secret) says
    # which providers have a key and since when, so pages never need to decrypt.
    api_keys = EncryptedTextField(blank=True, default="")
    api_keys_set_at = models.JSONField(default=dict, blank=True)
    sprites_token = EncryptedTextField(blank=True, default="")
    sprites_token_set_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[OrganisationQuerySet] = OrganisationQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.personal_of_id is not None

    def api_key_map(self) -> dict[str, str]:
        return dict(json.loads(self.api_keys)) if self.api_keys else {}

    def set_api_key(self, provider: str, key: str) -> None:
        keys = self.api_key_map()
        keys[provider] = key
        self.api_keys = json.dumps(keys)
        set_at = dict(self.api_keys_set_at)
        set_at[provider] = timezone.now().isoformat()
        self.api_keys_set_at = set_at

    def remove_api_key(self, provider: str) -> None:
        keys = self.api_key_map()
        keys.pop(provider, None)
        self.api_keys = json.dumps(keys) if keys else ""
        set_at = dict(self.api_keys_set_at)
        set_at.pop(provider, None)
        self.api_keys_set_at = set_at


class Membership(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organisation", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique")
        ]
        indexes = [models.Index(fields=["user", "organisation"], name="membership_user_org")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


class Invitation(models.Model):
    """An e-mailed, signed, expiring, single-use link to join an organisation with a role.

    Only the SHA-256 of the link's secret is stored; the link is shown once (and mailed).
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.organisation} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class AuditAction(models.TextChoices):
    ORGANISATION_CREATED = "organisation.created", "Organisation created"
    ORGANISATION_RENAMED = "organisation.renamed", "Organisation renamed"
    ORGANISATION_DELETED = "organisation.deleted", "Organisation deleted"
    MEMBER_INVITED = "member.invited", "Member invited"
    INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
    INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    MEMBER_LEFT = "member.left", "Member left"
    KEY_SET = "key.set", "Provider key set"
    KEY_REMOVED = "key.removed", "Provider key removed"
    SPRITES_TOKEN_SET = "sprites_token.set", "Sprites token set"
    SPRITES_TOKEN_CLEARED = "sprites_token.cleared", "Sprites token cleared"
    CUSTOM_PROVIDER_SAVED = "custom_provider.saved", "Custom provider saved"
    CUSTOM_PROVIDER_REMOVED = "custom_provider.removed", "Custom provider removed"
    SECRET_SET = "secret.set", "Project secret set"
    SECRET_REMOVED = "secret.removed", "Project secret removed"
    PROJECT_CREATED = "project.created", "Project created"
    PROJECT_DELETED = "project.deleted", "Project deleted"
    BUDGET_CHANGED = "budget.changed", "Budget changed"


class AuditEntry(models.Model):
    """One thing someone did in an organisation. Names only: never a secret's value."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Copied so the entry still says who it was after the account is gone.
    actor_email = models.CharField(max_length=254, blank=True, default="")
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    subject = models.CharField(max_length=300, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["organisation", "-created_at"], name="audit_org_time")]

    def __str__(self) -> str:
        return f"{self.actor_email or 'system'}: {self.action} {self.subject}"
