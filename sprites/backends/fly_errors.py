"""Turn sprites-py's exceptions into the one ``SpriteError`` (with ``retryable`` set).

sprites-py maps only 401 and 404 of its REST calls to exceptions of their own; everything
else is a generic error whose message ends in ``(status N): <body>``. A 429's body holds
``retry_after_seconds`` (reference/sprites-api.md §1), so we read it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator

import httpx

from sprites.backends.base import SpriteError
from sprites.backends.sdk import load_sdk_module

_STATUS_IN_MESSAGE = re.compile(r"\(status (\d{3})\)(?::\s*(.*))?", re.DOTALL)


def _retry_after(body: str | None, header: int | None = None) -> float | None:
    if body:
        with contextlib.suppress(ValueError, AttributeError):
            seconds = json.loads(body).get("retry_after_seconds")
            if isinstance(seconds, int | float) and seconds > 0:
                return float(seconds)
    return float(header) if header else None


def _for_status(
    status: int, body: str | None, action: str, retry_after: float | None
) -> SpriteError:
    if status == 401:
        return SpriteError(
            f"The Sprites API refused the token while trying to {action}: check the Sprites"
            " token in your settings (or STARTER_SPRITES_TOKEN)."
        )
    if status == 404:
        return SpriteError(f"Could not {action}: the Sprites API does not know it (404).")
    if status == 429:
        wait = f" Try again in {retry_after:.0f} s." if retry_after else " Try again later."
        return SpriteError(
            f"The Sprites API is rate limiting us while trying to {action}.{wait}",
            retryable=True,
            retry_after=retry_after,
        )
    if status >= 500 or status in (408, 502, 503, 504):
        return SpriteError(
            f"The Sprites API failed while trying to {action} (status {status}).", retryable=True
        )
    detail = (body or "").strip()[:300]
    return SpriteError(f"The Sprites API rejected the request to {action} ({status}): {detail}")


def translate(error: BaseException, action: str) -> SpriteError:
    """The ``SpriteError`` for an exception raised by sprites-py or the network."""
    exceptions = load_sdk_module("exceptions")
    if isinstance(error, SpriteError):
        return error
    if isinstance(error, exceptions.AuthenticationError):
        return _for_status(401, None, action, None)
    if isinstance(error, exceptions.NotFoundError):
        return _for_status(404, None, action, None)
    if isinstance(error, exceptions.FilesystemError):
        if isinstance(error.__cause__, httpx.RequestError):
            # The SDK wraps a failed connection in a FilesystemError: nothing is wrong with
            # the path, the Sprite (or the API) cannot be reached now.
            return SpriteError(
                f"Could not reach the Sprite to {action}: {error.__cause__}", retryable=True
            )
        if isinstance(error, exceptions.FileNotFoundError_):
            return SpriteError(
                f"Could not {action}: no such file or directory.", path_problem="missing"
            )
        if isinstance(error, exceptions.IsADirectoryError_ | exceptions.NotADirectoryError_):
            return SpriteError(f"Could not {action}: {error}", path_problem="refused")
        return SpriteError(f"Could not {action}: {error}")
    if isinstance(error, exceptions.APIError) and error.status_code:
        retry_after = _retry_after(error.response, error.retry_after_header)
        return _for_status(error.status_code, error.response, action, retry_after)
    if isinstance(error, exceptions.NetworkError):
        # "WebSocket closed before receiving command exit status" and friends: the
        # command may or may not have run; the sprite is probably waking.
        return SpriteError(
            f"The connection to the Sprite dropped while trying to {action}: {error}",
            retryable=True,
        )
    if isinstance(error, TimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return SpriteError(
            f"Timed out while trying to {action} (a cold Sprite can take a while to wake).",
            retryable=True,
        )
    if isinstance(error, httpx.HTTPError | OSError):
        return SpriteError(f"Could not reach the Sprites API to {action}: {error}", retryable=True)
    if isinstance(error, exceptions.SpriteError):
        match = _STATUS_IN_MESSAGE.search(str(error))
        if match:
            status, body = int(match.group(1)), match.group(2)
            return _for_status(status, body, action, _retry_after(body))
        return SpriteError(f"Could not {action}: {error}", retryable=True)
    raise error


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Re-raise anything sprites-py or httpx raises inside the block as ``SpriteError``."""
    try:
        yield
    except SpriteError:
        raise
    except Exception as error:
        raise translate(error, action) from error
