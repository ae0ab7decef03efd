from __future__ import annotations

from django.urls import path

from projects import views

app_name = "projects"

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<str:public_id>/", views.detail, name="detail"),
    path("p/<str:public_id>/status/", views.status_badge, name="status"),
    path("p/<str:public_id>/lifecycle/", views.lifecycle_panel, name="lifecycle"),
    path("p/<str:public_id>/rename/", views.rename, name="rename"),
    path("p/<str:public_id>/delete/", views.delete, name="delete"),
    path("p/<str:public_id>/actions/<str:action>/", views.lifecycle_action, name="action"),
    path("p/<str:public_id>/secrets/", views.secret_set, name="secret_set"),
    path("p/<str:public_id>/secrets/<str:name>/remove/", views.secret_remove, name="secret_remove"),
]
