"""The bridge's JSON error shape, ``{"error": code, "message": text}``, and its one exception.

Every refusal the bridge makes is an ``ApiError`` (``SessionError`` in ``sessions.py`` is one
too), so ``app.py`` registers a single handler that turns it into this shape.
"""

from __future__ import annotations

from starlette.responses import JSONResponse


class ApiError(Exception):
    """A request the bridge refuses; ``status`` and ``code`` shape the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)
