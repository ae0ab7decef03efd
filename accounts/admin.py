"""Operators see users, their settings (never secret values) and API tokens."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, User, UserSettings
from accounts.tokens import revoke_api_token


class UserSettingsInline(admin.StackedInline):
    model = UserSettings
    can_delete = False
    # Secret columns are excluded outright; only whether and when they were set is shown.
    fields = (
        "default_provider",
        "default_model",
        "default_thinking_level",
        "api_keys_set_at",
        "sprites_token_set_at",
    )
    readonly_fields = ("api_keys_set_at", "sprites_token_set_at")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "is_staff", "is_active", "date_joined", "last_login")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = (UserSettingsInline,)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "scope", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "user__email", "prefix")
    fields = ("name", "user", "scope", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token's value is shown once to its owner; operators never see one

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            revoke_api_token(token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
