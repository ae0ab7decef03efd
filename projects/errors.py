"""Errors a person can be shown as they are.

(Only ``BridgeError`` here for now, moved out of ``projects.bridge.client`` so that
``projects.lifecycle.activity`` can raise it without an import cycle; the rest of the error
family joins it in the errors merge.)
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
