"""Everything that can go wrong with a project, mapped once: error codes, HTTP statuses,
and the person-facing form of a Sprite backend's failure.

The REST API (``starter/api.py``), the dashboard's JSON and fragment views
(``dashboard/http.py``) and its lifecycle buttons (``dashboard/pages.py``) all answer a
``ProjectError`` with ``status_of(error)``, so one failure gets one status wherever it is
seen. To change what a person reads when a Sprite is down, change ``from_sprite_error``.
"""

from __future__ import annotations

from typing import Any

from sprites.backends import SpriteError

# The HTTP status of each error code. A code missing here is a 400: the request is wrong.
STATUS_BY_CODE: dict[str, int] = {
    "invalid": 400,
    "not_found": 404,
    "conflict": 409,
    # A quota (50 projects), not a rate: waiting does not help, deleting one does.
    "limit": 409,
    "too_large": 413,
    # A monthly budget of the model gateway is reached: raising it (or a new month) helps.
    "budget_reached": 402,
    # The Sprite backend refused for good (no such Sprite, a bad token): retrying won't help.
    "sprite_error": 502,
    # The Sprite is waking, rate-limited or unreachable for now: retrying later can help.
    "sprite_unavailable": 503,
}


class ProjectError(ValueError):
    """A request about a project that cannot be done; ``message`` is shown to the person.

    ``code`` is the machine-readable kind (the API's ``error`` field); ``status`` overrides
    the code's status from ``STATUS_BY_CODE`` when the failure carries its own (a bridge's).
    """

    def __init__(self, message: str, code: str = "invalid", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class BridgeError(ProjectError):
    """A project's bridge (or the way to it) refused or failed.

    The status is explicit because the bridge's own 404 or 409 must reach the caller as it
    is; ``detail`` is the bridge's structured detail, passed through by the API.
    """

    status: int

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message, code, status)
        self.detail = detail

    @classmethod
    def wrapping(cls, error: ProjectError) -> BridgeError:
        """``error`` as a BridgeError with the status it would have had (for the callers of
        the bridge client, which promise to raise BridgeError only)."""
        return cls(status_of(error), error.code, error.message)


def status_of(error: Exception) -> int:
    """The HTTP status that answers ``error``: its own, its code's, or 400 (bad input)."""
    if isinstance(error, ProjectError):
        if error.status is not None:
            return error.status
        return STATUS_BY_CODE.get(error.code, 400)
    return 400


def from_sprite_error(error: SpriteError) -> ProjectError:
    """A Sprite backend's failure as the error a person or program sees.

    The backend says what it knows as data, never in words to be parsed: ``retryable``
    (the Sprite is down or busy for now: ``sprite_unavailable``, 503) and ``path_problem``
    (a path that does not exist is ``not_found``; one the home's rules refuse, such as a
    link out of the home, is ``invalid``). Anything else is ``sprite_error`` (502).
    """
    if error.retryable:
        return ProjectError(error.message, "sprite_unavailable")
    if error.path_problem == "missing":
        return ProjectError(error.message, "not_found")
    if error.path_problem == "refused":
        return ProjectError(error.message, "invalid")
    return ProjectError(error.message, "sprite_error")
