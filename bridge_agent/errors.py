"""The bridge's JSON error shape, ``{"error": code, "message": text}``, and its one exception.

Every refusal the bridge makes is an ``ApiError`` (``SessionError`` in ``sessions.py`` is one
too), so ``app.py`` registers a single handler that turns it into this shape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    """A request the bridge refuses; ``status`` and ``code`` shape the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def exception_handlers(where: str, logger: logging.Logger) -> dict[Any, Handler]:
    """Starlette's exception handlers for one of the bridge's apps (the token-guarded API,
    the services socket): every answer is the JSON error shape; ``where`` names the app in
    a 404 ("No bridge endpoint /x.")."""

    async def api_error(request: Request, exc: Exception) -> Response:
        # Every refusal, ``SessionError`` included, is an ``ApiError``.
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(404, "not_found", f"No {where} {request.url.path}.")

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(
            405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}."
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "The bridge failed; see its log.")

    return {ApiError: api_error, 404: not_found, 405: method_not_allowed, Exception: unexpected}
