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
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from projects.errors import ProjectError, status_of
from starter.api_parser import find_lone_surrogate


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
    return "bad_request"


def message_of(error: Exception) -> str:
    if isinstance(error, ProjectError):
        return error.message
    return str(error)


def json_error(error: Exception) -> JsonResponse:
    return JsonResponse(
        {"error": code_of(error), "message": message_of(error)}, status=status_of(error)
    )


def fragment_error(request: HttpRequest, error: Exception) -> HttpResponse:
    return render(
        request,
        "projects/workspace/_error.html",
        {"message": message_of(error)},
        status=status_of(error),
    )
