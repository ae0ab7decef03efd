"""Operators see the ledger (read-only, with a summary by person, project and model), set
the platform's policy, and look at (or revoke) gateway tokens without ever seeing one."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from gateway import usage
from gateway.models import (
    GatewayPolicy,
    GatewayToken,
    OrganisationLimits,
    ProjectLimits,
    UsageRecord,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the gateway only: the admin looks, never edits."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at", "user", "project_name", "provider", "model", "input_tokens",
        "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_display",
        "duration_ms", "status_code", "complete",
    )  # fmt: skip
    list_filter = (
        ("user", admin.RelatedOnlyFieldListFilter),
        ("project_name", admin.AllValuesFieldListFilter),
        ("provider", admin.AllValuesFieldListFilter),
        ("model", admin.AllValuesFieldListFilter),
        "complete",
    )
    search_fields = ("project_name", "project_public_id", "session_id", "model", "user__email")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    # The summary's groups, each at most this long (the biggest spenders first).
    SUMMARY_ROWS = 10

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, record: UsageRecord) -> str:
        return "price unknown" if record.cost is None else usage.format_cost(record.cost)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            changelist = response.context_data.get("cl")
            if changelist is not None:
                rows: QuerySet[UsageRecord] = changelist.queryset
                response.context_data["usage_summary"] = {
                    "totals": usage.totals_of(rows),
                    "sections": [
                        ("By person", usage.grouped_by_user(rows)[: self.SUMMARY_ROWS]),
                        ("By project", usage.grouped(rows, "project")[: self.SUMMARY_ROWS]),
                        ("By model", usage.grouped(rows, "model")[: self.SUMMARY_ROWS]),
                    ],
                }
        return response


@admin.register(GatewayPolicy)
class GatewayPolicyAdmin(admin.ModelAdmin):
    """One row: the list page goes straight to it."""

    fields = ("default_user_monthly_budget", "max_user_monthly_budget", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        policy = GatewayPolicy.current()
        return HttpResponseRedirect(reverse("admin:gateway_gatewaypolicy_change", args=[policy.pk]))


@admin.register(ProjectLimits)
class ProjectLimitsAdmin(admin.ModelAdmin):
    list_display = (
        "project", "monthly_budget", "guard_enabled", "guard_repeat_limit", "guard_call_limit",
        "guard_run_minutes", "updated_at",
    )  # fmt: skip
    list_filter = ("guard_enabled",)
    search_fields = ("project__name", "project__public_id", "project__owner__email")
    raw_id_fields = ("project",)
    readonly_fields = ("updated_at",)


@admin.register(OrganisationLimits)
class OrganisationLimitsAdmin(admin.ModelAdmin):
    list_display = ("organisation", "monthly_budget", "updated_at")
    search_fields = ("organisation__name", "organisation__public_id")
    raw_id_fields = ("organisation",)
    readonly_fields = ("updated_at",)


@admin.register(GatewayToken)
class GatewayTokenAdmin(ReadOnlyAdmin):
    """Tokens are shown by project and state only: the value (and its hash) never."""

    list_display = ("project", "created_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("project__name", "project__public_id")
    fields = ("project", "created_at", "revoked_at")
    readonly_fields = fields
    list_select_related = ("project",)
    actions = ("revoke",)

    @admin.action(description="Revoke the selected tokens (the Sprite is cut off)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[GatewayToken]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Needed for the action; every field stays read-only.
        return obj is None and bool(request.user.is_staff)
