from __future__ import annotations

from django.urls import path

from organisations import pages

app_name = "organisations"

urlpatterns = [
    path("organisations/", pages.organisation_list, name="list"),
    path("organisations/<str:organisation_id>/", pages.detail, name="detail"),
    path("organisations/<str:organisation_id>/rename/", pages.rename, name="rename"),
    path("organisations/<str:organisation_id>/delete/", pages.delete, name="delete"),
    path("organisations/<str:organisation_id>/leave/", pages.leave, name="leave"),
    path("organisations/<str:organisation_id>/switch/", pages.switch, name="switch"),
    path("organisations/<str:organisation_id>/audit/", pages.audit_log, name="audit"),
    path("organisations/<str:organisation_id>/invitations/", pages.invite, name="invite"),
    path(
        "organisations/<str:organisation_id>/invitations/<int:invitation_id>/revoke/",
        pages.revoke,
        name="revoke",
    ),
    path(
        "organisations/<str:organisation_id>/members/<int:user_id>/role/",
        pages.change_role,
        name="change_role",
    ),
    path(
        "organisations/<str:organisation_id>/members/<int:user_id>/remove/",
        pages.remove,
        name="remove",
    ),
    path("invitations/accept/", pages.invitation_pending, name="invitation_pending"),
    path("invitations/<str:secret>/", pages.invitation, name="invitation"),
]
