"""Operations admin: organisations with their members, invitations (never a token or its
hash), and the audit log (read-only: nobody edits history)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from organisations.models import AuditEntry, Invitation, Membership, Organisation


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "personal_of", "created_at")
    search_fields = ("name", "public_id", "memberships__user__email")
    # Keys and the Sprites token are encrypted secrets: the admin shows neither.
    fields = ("name", "public_id", "personal_of", "api_keys_set_at", "sprites_token_set_at",
              "created_at")  # fmt: skip
    readonly_fields = ("public_id", "personal_of", "api_keys_set_at", "sprites_token_set_at",
                       "created_at")  # fmt: skip
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organisation", "role", "invited_by", "created_at", "expires_at",
                    "accepted_at", "revoked_at")  # fmt: skip
    list_filter = ("role",)
    search_fields = ("email", "organisation__name")
    fields = ("organisation", "email", "role", "invited_by", "created_at", "expires_at",
              "accepted_at", "accepted_by", "revoked_at")  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invitations are made where the link can be mailed and shown once


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organisation", "actor_email", "action", "subject")
    list_filter = ("action",)
    search_fields = ("actor_email", "subject", "organisation__name")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
