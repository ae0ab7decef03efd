"""ASGI entry point.

Requests for a preview host (``<public_id>.<STARTER_PREVIEW_DOMAIN>``) go to the preview
proxy before Django sees them; everything else is HTTP through Django and websockets
through Channels (``/ws/projects/<public_id>/`` and ``/ws/home/``, projects/relay/routing.py).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "starter.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from projects.preview.links import is_preview_host  # noqa: E402
from projects.preview.proxy import PreviewProxy  # noqa: E402
from projects.relay.auth import WebsocketAuthMiddleware  # noqa: E402
from projects.relay.routing import websocket_urlpatterns  # noqa: E402


class PreviewHostRouter:
    """Sends preview hosts to the preview proxy, everything else to ``default``."""

    def __init__(self, preview: ASGIApp, default: ASGIApp) -> None:
        self.preview = preview
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            for name, value in scope.get("headers", []):
                if name == b"host":
                    if is_preview_host(value.decode("latin-1")):
                        await self.preview(scope, receive, send)
                        return
                    break
        await self.default(scope, receive, send)


application = PreviewHostRouter(
    PreviewProxy(),
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # The origin check lives in WebsocketAuthMiddleware: the session counts only from
            # the dashboard's origin, while token clients (programs) send no Origin at all.
            "websocket": WebsocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
        }
    ),
)
