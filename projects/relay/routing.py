"""The websocket endpoints (mounted by starter/asgi.py behind WebsocketAuthMiddleware)."""

from __future__ import annotations

from django.urls import path

from projects.relay.consumers import HomeConsumer, ProjectEventsConsumer
from projects.relay.terminal import TerminalRelay

websocket_urlpatterns = [
    path("ws/projects/<str:public_id>/", ProjectEventsConsumer.as_asgi()),
    # A plain ASGI app (Channels routes any); Django's stubs only know views.
    path(
        "ws/projects/<str:public_id>/terminals/<str:terminal_id>/",
        TerminalRelay(),  # type: ignore[arg-type]
    ),
    path("ws/home/", HomeConsumer.as_asgi()),
]
