"""Parsing of request bodies and query strings; every bad input raises ``ApiError`` (a 4xx)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from bridge_agent.errors import ApiError
from bridge_agent.images import ImageRefused, checked_images
from bridge_agent.protocol import MAX_SESSION_NAME_CHARS
from bridge_agent.session_names import clean_session_name

MAX_BODY = 8 * 1024 * 1024


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as ``{}``."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "body_too_large", f"The body is over {MAX_BODY} bytes.")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {error}.") from error
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    return value


def optional_string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_field", f"'{name}' must be a non-empty string.")
    return value.strip()


def required_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_field", f"'{name}' is required and must be non-empty text.")
    return value


def session_name_from(body: dict[str, Any]) -> str:
    """``name``: a session's display name, cleaned to one line."""
    value = body.get("name")
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", "'name' must be text.")
    if len(value.strip()) > MAX_SESSION_NAME_CHARS:
        raise ApiError(
            400, "invalid_field", f"'name' has at most {MAX_SESSION_NAME_CHARS} characters."
        )
    name = clean_session_name(value)
    if not name:
        raise ApiError(400, "invalid_field", "'name' must have some visible text.")
    return name


def optional_images(body: dict[str, Any]) -> list[Any] | None:
    """``images`` in pi's shape, checked by ``images.checked_images`` (the control plane
    applies the same check, so both answer the same 4xx)."""
    images = body.get("images")
    if images is None:
        return None
    try:
        return list(checked_images(images))
    except ImageRefused as refused:
        raise ApiError(refused.status, refused.code, refused.message) from refused


def session_id_from(request: Request, body: dict[str, Any] | None = None) -> str | None:
    """``session_id`` from the JSON body, else from the query string."""
    if body is not None and body.get("session_id") is not None:
        return optional_string(body, "session_id")
    value = request.query_params.get("session_id")
    if value is None:
        return None
    if not value.strip():
        raise ApiError(400, "invalid_field", "'session_id' must be a non-empty string.")
    return value.strip()
