from __future__ import annotations

from django.urls import path

from projects.dashboard import agent as workspace_views
from projects.dashboard import branches as branch_views
from projects.dashboard import files as file_views
from projects.dashboard import general_agent as general_agent_views
from projects.dashboard import limits as limit_views
from projects.dashboard import pages as views
from projects.dashboard import panels as workspace_panels
from projects.dashboard import services as service_views
from projects.dashboard import terminals as terminal_views
from projects.dashboard import usage as usage_views

app_name = "projects"

urlpatterns = [
    path("", views.home, name="home"),
    path("agent/", general_agent_views.agent_workspace, name="general_agent"),
    path("agent/renew/", general_agent_views.renew_agent_access, name="general_agent_renew"),
    path("palette.json", views.palette_items, name="palette"),
    path("secrets-overview/", views.secrets_overview, name="secrets_overview"),
    path("p/<str:public_id>/", views.detail, name="detail"),
    path("p/<str:public_id>/status/", views.status_badge, name="status"),
    path("p/<str:public_id>/lifecycle/", views.lifecycle_panel, name="lifecycle"),
    path("p/<str:public_id>/manage/", views.manage_panel, name="manage"),
    path("p/<str:public_id>/rename/", views.rename, name="rename"),
    path("p/<str:public_id>/delete/", views.delete, name="delete"),
    path("p/<str:public_id>/actions/<str:action>/", views.lifecycle_action, name="action"),
    path("p/<str:public_id>/secrets/", views.secret_set, name="secret_set"),
    path("p/<str:public_id>/secrets/<str:name>/remove/", views.secret_remove, name="secret_remove"),
    # The workspace's chat panels and top bar (JSON, called with fetch).
    path("p/<str:public_id>/agent/history/", workspace_views.agent_history, name="agent_history"),
    path("p/<str:public_id>/agent/send/", workspace_views.agent_send, name="agent_send"),
    path("p/<str:public_id>/agent/abort/", workspace_views.agent_abort, name="agent_abort"),
    path(
        "p/<str:public_id>/agent/commands/", workspace_views.agent_commands, name="agent_commands"
    ),
    path("p/<str:public_id>/usage/", usage_views.usage_snapshot, name="usage"),
    path("p/<str:public_id>/agent/state/", workspace_views.agent_state, name="agent_state"),
    path("p/<str:public_id>/agent/config/", workspace_views.agent_config, name="agent_config"),
    path(
        "p/<str:public_id>/agent/sessions/", workspace_views.agent_sessions, name="agent_sessions"
    ),
    path(
        "p/<str:public_id>/agent/sessions/new/",
        workspace_views.agent_session_new,
        name="agent_session_new",
    ),
    path(
        "p/<str:public_id>/agent/sessions/switch/",
        workspace_views.agent_session_switch,
        name="agent_session_switch",
    ),
    path(
        "p/<str:public_id>/agent/sessions/rename/",
        workspace_views.agent_session_rename,
        name="agent_session_rename",
    ),
    path(
        "p/<str:public_id>/agent/sessions/delete/",
        workspace_views.agent_session_delete,
        name="agent_session_delete",
    ),
    path(
        "p/<str:public_id>/agent/sessions/archived/",
        workspace_views.agent_sessions_archived,
        name="agent_sessions_archived",
    ),
    path(
        "p/<str:public_id>/agent/sessions/restore/",
        workspace_views.agent_session_restore,
        name="agent_session_restore",
    ),
    path(
        "p/<str:public_id>/agent/queue/clear/",
        workspace_views.agent_queue_clear,
        name="agent_queue_clear",
    ),
    path(
        "p/<str:public_id>/agent/sessions/compact/",
        workspace_views.agent_compact,
        name="agent_compact",
    ),
    path("p/<str:public_id>/agent/tree/", branch_views.agent_tree, name="agent_tree"),
    path("p/<str:public_id>/agent/edit/", branch_views.agent_edit, name="agent_edit"),
    path("p/<str:public_id>/agent/clone/", branch_views.agent_clone, name="agent_clone"),
    path("p/<str:public_id>/agent/secret/", workspace_views.secret_provide, name="secret_provide"),
    path("p/<str:public_id>/preview-link/", workspace_views.preview_link, name="preview_link"),
    # The workspace's panels and sidebar (HTML fragments, loaded with htmx).
    path("p/<str:public_id>/inspect/", workspace_panels.inspect_sidebar, name="inspect"),
    path("p/<str:public_id>/files/view/", workspace_panels.file_view, name="file_view"),
    path("p/<str:public_id>/files/raw/", workspace_panels.file_raw, name="file_raw"),
    path("p/<str:public_id>/logs/", workspace_panels.log_tail, name="logs"),
    # The Files panel (JSON; downloads and uploads streamed).
    *[
        path(f"p/<str:public_id>/workspace-files/{name}/", view, name=f"files_{name}")
        for name, view in (
            ("tree", file_views.tree),
            ("stat", file_views.stat),
            ("text", file_views.text),
            ("save", file_views.save),
            ("rename", file_views.rename),
            ("delete", file_views.delete),
            ("download", file_views.download),
            ("archive", file_views.archive),
            ("upload", file_views.upload),
        )
    ],
    # The workspace's terminals (the bytes go through the terminal socket).
    path("p/<str:public_id>/terminals/", terminal_views.terminal_list, name="terminals"),
    path(
        "p/<str:public_id>/terminals/<str:terminal_id>/close/",
        terminal_views.terminal_close,
        name="terminal_close",
    ),
    # A project's supervised services (before the action pattern, which would match "runs").
    path(
        "p/<str:public_id>/services/<str:name>/runs/",
        service_views.service_runs,
        name="service_runs",
    ),
    path(
        "p/<str:public_id>/services/<str:name>/logs/stream/",
        service_views.service_log_stream,
        name="service_log_stream",
    ),
    path(
        "p/<str:public_id>/services/<str:name>/<str:action>/",
        service_views.service_action,
        name="service_action",
    ),
    path(
        "p/<str:public_id>/sessions/<str:session_id>/trace/",
        workspace_panels.session_trace,
        name="trace",
    ),
    path(
        "p/<str:public_id>/sessions/<str:session_id>/branches/",
        branch_views.session_branches,
        name="branches",
    ),
    path(
        "p/<str:public_id>/sessions/<str:session_id>/branches/switch/",
        branch_views.session_branch_switch,
        name="branch_switch",
    ),
    path("p/<str:public_id>/checkpoints/", workspace_panels.checkpoint_list, name="checkpoints"),
    path(
        "p/<str:public_id>/checkpoints/restore/",
        workspace_panels.checkpoint_restore,
        name="checkpoint_restore",
    ),
    path("budget/", limit_views.user_budget_update, name="user_budget"),
    path("budget/panel/", limit_views.user_budget_panel, name="user_budget_panel"),
    path("p/<str:public_id>/limits/", limit_views.project_limits, name="limits"),
    path(
        "p/<str:public_id>/limits/update/", limit_views.project_limits_update, name="limits_update"
    ),
    path("p/<str:public_id>/guard/continue/", limit_views.guard_continue, name="guard_continue"),
    path("p/<str:public_id>/guard/stop/", limit_views.guard_stop, name="guard_stop"),
]
