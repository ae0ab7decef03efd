"""A strict Content-Security-Policy on every response Django serves.

The dashboard shows what agents write (Markdown, file viewers, tool output), so the policy
is the backstop when sanitising misses something: only the site's own script files run (no
inline script, no `eval`), no inline styles, nothing embeds the dashboard, and forms post
only to it. A response that sets its own policy keeps it (raw files from
`projects/workspace_panels.py` are sandboxed documents). The admin and the API's Swagger
UI (django-ninja's own static files) work under it as they are. Previews never come
through here: `starter/asgi.py` hands them to the preview proxy before Django.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

POLICY_HEADER = "Content-Security-Policy"


def dashboard_policy(request: HttpRequest) -> str:
    """The policy for a page of the dashboard, for the host it was served on."""
    try:
        host = request.get_host()
    except DisallowedHost:  # the 400 for it still gets a policy, without websockets
        host = ""
    sockets = f" ws://{host} wss://{host}" if host else ""
    preview_hosts = f"*.{settings.STARTER_PREVIEW_DOMAIN}:*"
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        # Not every browser counts ws: and wss: of the page's host as 'self'.
        f"connect-src 'self'{sockets}",
        # 'self' for the PDF viewer (a raw file); the preview panel frames the app's origin.
        f"frame-src 'self' {preview_hosts}",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def add_policy(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if POLICY_HEADER not in response:
        response[POLICY_HEADER] = dashboard_policy(request)
    return response


@sync_and_async_middleware
def content_security_policy_middleware(
    get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]],
) -> Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]:
    """Adds `dashboard_policy` to responses that do not carry a policy of their own."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            response = await get_response(request)
            return add_policy(request, response)

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        return add_policy(request, response)  # type: ignore[arg-type]

    return middleware
