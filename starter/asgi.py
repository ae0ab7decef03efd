"""ASGI entry point.

Requests for a preview host (``<public_id>.<STARTER_PREVIEW_DOMAIN>``) go to the preview
proxy before Django sees them; then HTTP under ``/gateway/`` goes to the model gateway
(gateway/proxy.py, async and streaming, never through Django's request cycle); everything
else is HTTP through Django and websockets through Channels (``/ws/projects/<public_id>/``
and ``/ws/home/``, projects/relay/routing.py).
"""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "starter.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from gateway.proxy import MOUNT as GATEWAY_MOUNT  # noqa: E402
from gateway.proxy import gateway_app  # noqa: E402
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


class GatewayRouter:
    """Sends HTTP requests under ``/gateway/`` to the gateway, everything else to ``default``."""

    def __init__(self, gateway: ASGIApp, default: ASGIApp) -> None:
        self.gateway = gateway
        self.default = default
        self.prefix = GATEWAY_MOUNT + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            await self.gateway(scope, receive, send)
            return
        await self.default(scope, receive, send)


application = PreviewHostRouter(
    PreviewProxy(),
    GatewayRouter(
        gateway_app,
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                # The origin check lives in WebsocketAuthMiddleware: the session counts only
                # from the dashboard's origin, while token clients (programs) send no Origin.
                "websocket": WebsocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
            }
        ),
    ),
)

# Everything loaded so far lives as long as the process: moved out of the collector's sight,
# a full collection walks only what came after (on this machine's bench, a gen2 collection
# of the web process went from ~360 ms to ~40 ms: a pause every stream through the gateway
# and every websocket felt; bench/gateway_bench.py).
gc.freeze()
