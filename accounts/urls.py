from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("defaults/", views.save_defaults, name="defaults"),
    path("api-keys/", views.save_api_key, name="api_key"),
    path("api-keys/<str:provider>/remove/", views.remove_api_key, name="api_key_remove"),
    path("providers/", views.save_custom_provider, name="custom_provider"),
    path(
        "providers/<str:name>/remove/", views.remove_custom_provider, name="custom_provider_remove"
    ),
    path("sprites-token/", views.save_sprites_token, name="sprites_token"),
    path("tokens/", views.create_token, name="token_create"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="token_revoke"),
]
