from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Starter operations"
admin.site.site_title = "Starter admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("starter.api")),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("", include("projects.dashboard.urls")),
]
