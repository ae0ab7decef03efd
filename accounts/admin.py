"""Operators see users, their settings (never secret values) and API tokens.

The admin's login form counts failed logins like the dashboard's (accounts/login_limits),
and an operator setting a user's password revokes that user's sessions and tokens.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts import login_limits
from accounts.credential_revocation import revoke_sessions_and_tokens
from accounts.models import ApiToken, User, UserSettings
from accounts.tokens import revoke_api_token


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        account = str(self.cleaned_data.get("username") or "")
        client_ip = get_adapter(self.request).get_client_ip(self.request)
        try:
            attempt = login_limits.begin_attempt(account, client_ip)
        except login_limits.LoginThrottled as throttled:
            raise forms.ValidationError(throttled.message, code="throttled") from None
        cleaned = super().clean()  # raises on a wrong password: the attempt stays counted
        login_limits.forget_attempt(attempt)
        return cleaned


admin.site.login_form = RateLimitedAdminAuthenticationForm


class UserSettingsInline(admin.StackedInline):
    model = UserSettings
    can_delete = False
    # Provider keys and the Sprites token are the organisation's (not shown here).
    fields = ("default_provider", "default_model", "default_thinking_level")


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

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the password was set
            user = self.get_object(request, unquote(id))
            assert isinstance(user, User)
            # Django has already moved the operator's own session to the new hash.
            keep = request.session.session_key if user.pk == request.user.pk else None
            revoked = revoke_sessions_and_tokens(user, keep_session_key=keep)
            if revoked.anything:
                self.message_user(
                    request, f"For {user}, Starter {revoked.describe()}.", messages.WARNING
                )
        return response


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
