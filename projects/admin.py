"""Operators run projects from here; actions call the same functions as the dashboard."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from projects import actions
from projects.errors import ProjectError
from projects.models import Project, ProjectSecret


class ProjectSecretInline(admin.TabularInline):
    model = ProjectSecret
    fields = ("name", "created_at", "updated_at")  # values are write-only, even here
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _run_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Project], action: str
) -> None:
    done, refused = 0, []
    for project in queryset:
        try:
            actions.perform(project, action, actor=request.user)
            done += 1
        except ProjectError as error:
            refused.append(f"{project.name}: {error.message}")
    if done:
        modeladmin.message_user(
            request, f"{action}: started for {done} project(s).", messages.SUCCESS
        )
    for line in refused:
        modeladmin.message_user(request, line, messages.WARNING)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "public_id",
        "owner",
        "status",
        "sprite_link",
        "created_at",
        "last_activity_at",
    )
    list_filter = ("status",)
    search_fields = ("name", "public_id", "owner__email", "sprite_name")
    readonly_fields = (
        "public_id",
        "owner",
        "sprite_name",
        "sprite_link",
        "status",
        "status_message",
        "progress_step",
        "progress_done",
        "progress_total",
        "created_at",
        "updated_at",
        "last_activity_at",
    )
    fields = ("name", "description", *readonly_fields)
    inlines = (ProjectSecretInline,)
    actions = (
        "wake",
        "sleep",
        "rebootstrap",
        "retry",
        "checkpoint",
        "rotate_gateway_token",
        "destroy",
    )
    list_select_related = ("owner",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # projects are created by their owners, with a Sprite

    @admin.display(description="Sprite")
    def sprite_link(self, project: Project) -> str:
        if not project.sprite_url:
            return project.sprite_name or "—"
        return format_html(
            '<a href="{}" rel="noopener" target="_blank">{}</a>',
            project.sprite_url,
            project.sprite_name,
        )

    @admin.action(description="Wake selected Sprites")
    def wake(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        _run_action(self, request, queryset, "wake")

    @admin.action(description="Put selected Sprites to sleep")
    def sleep(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        _run_action(self, request, queryset, "sleep")

    @admin.action(description="Re-bootstrap selected Sprites")
    def rebootstrap(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        _run_action(self, request, queryset, "rebootstrap")

    @admin.action(description="Retry failed projects")
    def retry(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        _run_action(self, request, queryset, "retry")

    @admin.action(description="Checkpoint selected Sprites")
    def checkpoint(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        from projects.sprite.checkpoints import create_checkpoint

        for project in queryset:
            try:
                made = create_checkpoint(project, f"operator checkpoint by {request.user}")
            except ProjectError as error:
                self.message_user(request, f"{project.name}: {error.message}", messages.WARNING)
            else:
                self.message_user(
                    request, f"{project.name}: checkpoint {made.id} created.", messages.SUCCESS
                )

    @admin.action(description="Rotate the gateway token (cut off model access, hand a new one)")
    def rotate_gateway_token(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset:
            actions.rotate_gateway_token(project)
        self.message_user(
            request,
            f"Gateway token rotated for {queryset.count()} project(s): the old ones are refused.",
            messages.SUCCESS,
        )

    @admin.action(description="Destroy selected projects")
    def destroy(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        _run_action(self, request, queryset, "destroy")
