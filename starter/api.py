"""The REST API under ``/api/v1/``: one NinjaAPI, the apps' routers, and every error mapped
to one JSON shape (``{"error", "message", "detail"}``) in one place.

OpenAPI is served at ``/api/v1/openapi.json`` and interactive docs at ``/api/v1/docs``
(Swagger UI from django-ninja's own static files: no CDN is needed).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts import api as accounts_api
from accounts.api_auth import FULL_ACCESS, ScopeDenied
from accounts.user_settings import SettingsError
from gateway import api as gateway_api
from organisations import api as organisations_api
from organisations import members_api as organisations_members_api
from organisations.errors import OrganisationError, RoleRequired
from projects.api import agent as api_agent
from projects.api import branches as api_branches
from projects.api import events as api_events
from projects.api import files as api_files
from projects.api import limits as api_limits
from projects.api import projects as projects_api
from projects.api import services as api_services
from projects.api import sprite as api_sprite
from projects.api import terminals as api_terminals
from projects.api.rate_limit import RateLimited
from projects.errors import BridgeError, ProjectError, status_of
from starter.api_parser import NotUnicode, UnicodeParser

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Everything the dashboard does, for programs.

**Authentication**: a personal API token from the settings page, sent as
`Authorization: Bearer st_…`; or the browser session (unsafe methods then need the
`X-CSRFToken` header). Tokens with the `general_agent` scope reach only the operations that
the general agent uses (list, create and read projects, exec, files).

**Errors** are always `{"error": code, "message": text, "detail": …}`. Another person's
project is a 404, exactly like one that does not exist. The agent and exec operations are
rate-limited per token (429 with `Retry-After`).

**Events**: `GET /api/v1/projects/{project_id}/events` is a Server-Sent Events stream
(`curl -N`), resumable with `Last-Event-ID` or `?after=N`.
"""

api = NinjaAPI(
    title="Starter API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=FULL_ACCESS,
    docs=Swagger(settings={"persistAuthorization": True}),
    parser=UnicodeParser(),
)
api.add_router("/projects", projects_api.router)
api.add_router("/projects", api_agent.router)
api.add_router("/projects", api_branches.router)
api.add_router("/projects", api_events.router)
api.add_router("/projects", api_sprite.router)
api.add_router("/projects", api_files.router)
api.add_router("/projects", api_services.router)
api.add_router("/projects", api_terminals.router)
api.add_router("/settings", accounts_api.router)
api.add_router("/projects", api_limits.router)
api.add_router("/settings", api_limits.user_router)
api.add_router("/usage", gateway_api.router)
api.add_router("/organisations", organisations_api.router)
# Organisations (issue 19): organisations, members, invitations, the audit log.
api.add_router("/organisations", organisations_members_api.router)


def error_response(
    request: HttpRequest, status: int, code: str, message: str, detail: Any = None
) -> HttpResponse:
    return api.create_response(
        request, {"error": code, "message": message, "detail": detail}, status=status
    )


def _project_error(request: HttpRequest, error: ProjectError) -> HttpResponse:
    """Every domain refusal, a bridge's included: the status from ``projects.errors``, the
    one table the dashboard answers with too."""
    detail = error.detail if isinstance(error, BridgeError) else None
    return error_response(request, status_of(error), error.code, error.message, detail)


def _settings_error(request: HttpRequest, error: SettingsError) -> HttpResponse:
    return error_response(request, 400, "invalid", str(error))


def _validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    # Only where and what: pydantic's `input` may echo a secret back, `ctx` may not serialise.
    detail = [
        {
            "loc": [str(part) for part in item.get("loc", ())],
            "msg": str(item.get("msg", "")),
            "type": str(item.get("type", "")),
        }
        for item in error.errors
    ]
    fields = ", ".join(
        ".".join(entry["loc"][1:]) or entry["loc"][0] for entry in detail if entry["loc"]
    )
    message = f"Invalid input ({fields}): see detail." if fields else "Invalid input: see detail."
    return error_response(request, 422, "validation_error", message, detail)


def _not_unicode(request: HttpRequest, error: NotUnicode) -> HttpResponse:
    detail = [{"loc": list(error.location), "msg": str(error), "type": "string_unicode"}]
    return error_response(request, 422, "validation_error", str(error), detail)


def _not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    message = str(error) if error.args else "Not found."
    return error_response(request, 404, "not_found", message)


def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    response = error_response(
        request,
        401,
        "unauthenticated",
        "Authentication required: send 'Authorization: Bearer st_…' with a token from the "
        "settings page, or sign in.",
    )
    response["WWW-Authenticate"] = 'Bearer realm="starter"'
    return response


HTTP_ERROR_CODES = {400: "invalid", 403: "forbidden", 404: "not_found", 422: "validation_error"}


def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    if isinstance(error.__cause__, NotUnicode):  # from the body parser, wrapped by ninja
        return _not_unicode(request, error.__cause__)
    code = HTTP_ERROR_CODES.get(error.status_code, "error")
    return error_response(request, error.status_code, code, error.message)


def _scope_denied(request: HttpRequest, error: ScopeDenied) -> HttpResponse:
    return error_response(request, 403, "insufficient_scope", error.message)


def _role_required(request: HttpRequest, error: RoleRequired) -> HttpResponse:
    return error_response(
        request, 403, "role_required", error.message, {"needed_role": error.needed.value}
    )


ORGANISATION_ERROR_CODES = {403: "forbidden", 404: "not_found", 409: "conflict", 410: "gone"}


def _organisation_error(request: HttpRequest, error: OrganisationError) -> HttpResponse:
    code = ORGANISATION_ERROR_CODES.get(error.status, "invalid")
    return error_response(request, error.status, code, error.message)


def _rate_limited(request: HttpRequest, error: RateLimited) -> HttpResponse:
    response = error_response(request, 429, "rate_limited", error.message)
    response["Retry-After"] = str(math.ceil(error.retry_after))
    return response


def _too_large(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(
        request, 413, "body_too_large", f"The request body is larger than {limit} bytes."
    )


def _unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.exception("unexpected error in %s %s", request.method, request.path)
    return error_response(
        request, 500, "server_error", "Something went wrong on our side; it has been logged."
    )


HANDLERS: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
    (ProjectError, _project_error),
    (SettingsError, _settings_error),
    (ValidationError, _validation_error),
    (NotUnicode, _not_unicode),
    (Http404, _not_found),
    (AuthenticationError, _unauthenticated),
    (HttpError, _http_error),
    (ScopeDenied, _scope_denied),
    (RoleRequired, _role_required),
    (OrganisationError, _organisation_error),
    (RateLimited, _rate_limited),
    (RequestDataTooBig, _too_large),
    (Exception, _unexpected),
]
for exception_class, handler in HANDLERS:
    api.add_exception_handler(exception_class, handler)


# Requests that no operation takes never reach the handlers above: a method the path does
# not have (ninja answers it in plain text) and a path that is no operation (Django's HTML
# page). Both get the error shape here.


def _in_error_shape(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if not isinstance(response, HttpResponseNotAllowed):
        return response
    allowed = ", ".join(sorted(response["Allow"].split(", ")))
    answer = error_response(
        request,
        405,
        "method_not_allowed",
        f"{request.method} is not allowed on {request.path}; it answers {allowed}.",
        {"allowed": allowed.split(", ")},
    )
    answer["Allow"] = allowed
    return answer


View = Callable[..., Any]  # a sync view, or an async one (its coroutine gives the response)


def _methods_in_error_shape(view: View) -> View:
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            awaitable: Awaitable[HttpResponseBase] = view(request, *args, **kwargs)
            return _in_error_shape(request, await awaitable)

        return async_view

    @functools.wraps(view)
    def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return _in_error_shape(request, view(request, *args, **kwargs))

    return sync_view


@csrf_exempt
def unknown_path(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        404,
        "not_found",
        f"No API operation at {request.path}; the operations are listed at /api/v1/docs.",
    )


def _api_urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    patterns, app_name, namespace = api.urls
    wrapped: list[URLPattern | URLResolver] = [
        URLPattern(
            pattern.pattern, _methods_in_error_shape(pattern.callback), pattern.default_args,
            pattern.name,
        )
        if isinstance(pattern, URLPattern)
        else pattern
        for pattern in patterns
    ]  # fmt: skip
    return wrapped, app_name, namespace


urlpatterns: list[URLPattern | URLResolver] = [
    path("", _api_urls()),
    re_path(r"", unknown_path),
]
