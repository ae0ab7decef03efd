"""Request parsing and error answers shared by the workspace's views.

Errors are for people: a `ProjectError` (a `BridgeError` too) is answered with the status
`projects.errors.status_of` gives it, the same one the REST API answers, and with the
error's own message, as JSON for `fetch` callers and as a small HTML fragment for htmx
panels. Malformed requests (`BadRequest`) are a 400.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from organisations.errors import RoleRequired
from projects.errors import ProjectError, status_of
from starter.api_parser import find_lone_surrogate

FORBIDDEN = "You may not do this."


class BadRequest(ValueError):
    """The request itself is malformed (not JSON, wrong types)."""


def payload(request: HttpRequest) -> dict[str, Any]:
    """The body as a dict: a JSON object from `fetch`, or an ordinary form post."""
    if request.content_type == "application/json":
        try:
            raw = request.body
        except RequestDataTooBig as error:
            # A message with images can reach the limit: say so, as JSON, like the API's 413.
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
            raise ProjectError(
                f"The request is over {limit:g} MiB; send smaller or fewer images.",
                code="too_large",
            ) from error
        try:
            value = json.loads(raw or b"{}")
        except ValueError as error:
            raise BadRequest("The request body is not valid JSON.") from error
        if not isinstance(value, dict):
            raise BadRequest("The request body must be a JSON object.")
        if find_lone_surrogate(value):
            raise BadRequest("The request holds text that is not valid Unicode (a lone surrogate).")
        return value
    return {key: request.POST.get(key) for key in request.POST}


def text_field(data: dict[str, Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be text.")
    return value


def code_of(error: Exception) -> str:
    if isinstance(error, ProjectError):
        return error.code
    if isinstance(error, PermissionDenied):
        return "role_required" if isinstance(error, RoleRequired) else "forbidden"
    return "bad_request"


def message_of(error: Exception) -> str:
    if isinstance(error, ProjectError | RoleRequired):
        return error.message
    if isinstance(error, PermissionDenied):
        return str(error) or FORBIDDEN
    return str(error)


def answer_status(error: Exception) -> int:
    return 403 if isinstance(error, PermissionDenied) else status_of(error)


def json_error(error: Exception) -> JsonResponse:
    body: dict[str, object] = {"error": code_of(error), "message": message_of(error)}
    if isinstance(error, RoleRequired):
        body["needed_role"] = error.needed.value
    return JsonResponse(body, status=answer_status(error))


def fragment_error(request: HttpRequest, error: Exception) -> HttpResponse:
    return render(
        request,
        "projects/workspace/_error.html",
        {"message": message_of(error)},
        status=answer_status(error),
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler (``handler404``): the lookups' "No such project." as JSON for
    ``fetch`` callers and on the 404 page, so a person (or program) reads why. Only a
    message given as text is shown (the URL resolver's own 404 carries the patterns
    tried: never shown)."""
    message = exception.args[0] if exception.args and isinstance(exception.args[0], str) else ""
    message = message or "There is nothing here."
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"error": "not_found", "message": message}, status=404)
    return render(request, "404.html", {"message": message}, status=404)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 403 handler (``handler403``): a refused role check (``RoleRequired``,
    raised by the project lookups) answers as the caller expects, with the message that
    names the role needed: JSON for ``fetch`` (``Accept: application/json``), the error
    fragment for htmx panels, else the 403 page."""
    if "application/json" in request.headers.get("Accept", ""):
        return json_error(exception)
    if request.headers.get("HX-Request"):
        return fragment_error(request, exception)
    return render(request, "403.html", {"message": message_of(exception)}, status=403)
