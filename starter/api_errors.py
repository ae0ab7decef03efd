"""The REST API's one error shape, and the status codes each kind of operation documents.

Every error the API answers is ``{"error": code, "message": text, "detail": ...}``; the
handlers that produce it live in ``starter/api.py``. Routers import only what is here, so
the schema of every operation lists exactly the error statuses it can answer.
"""

from __future__ import annotations

from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    """What went wrong, for a program (``error``) and for a person (``message``)."""

    error: str
    message: str
    detail: Any = None


# Every authenticated operation: no or bad credentials, a token without the scope or a
# failed CSRF check, parameters that do not validate, a body over the size limit.
BASE_ERRORS = (401, 403, 413, 422)
# Operations on one project: it may not exist (or belong to someone else).
PROJECT_ERRORS = (*BASE_ERRORS, 404)
# Operations that reach the project's Sprite or its agent: the project may not be
# running, the Sprite may not answer, the agent may refuse, the caller may be rate-limited.
SPRITE_ERRORS = (*PROJECT_ERRORS, 400, 409, 429, 502, 503, 504)


def error_responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    return {status: ErrorOut for status in statuses}


def responses(ok: dict[int, Any], *errors: int) -> dict[int, Any]:
    """An operation's ``response=`` mapping: its success schemas plus its error statuses."""
    mapping: dict[int, Any] = error_responses(*errors)
    mapping.update(ok)
    return mapping
