from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

# A refused role check answers JSON, a fragment or the 403 page, and a missing project the
# same way with a 404 (projects/dashboard/http.py).
handler403 = "projects.dashboard.http.permission_denied"
handler404 = "projects.dashboard.http.page_not_found"

admin.site.site_header = "Starter operations"
admin.site.site_title = "Starter admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("starter.api")),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("", include("organisations.urls")),
    path("", include("projects.dashboard.urls")),
]
