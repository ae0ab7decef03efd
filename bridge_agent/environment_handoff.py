"""How the bridge hands a new environment to its keeper, so a restarted bridge has it too.

The keeper (``bridge_agent/keeper.py``) starts the bridge with the environment it was given,
and starts it again with that environment when it dies. After ``POST /starter/environment``
the bridge writes the new set, one JSON line, to a pipe the keeper opened and passed in
(``--environment-fd``); the keeper reads it on a thread and starts every later bridge with
it. The values go from one process's memory to another's: nothing is written to a file in
the Sprite, and the pipe's write end is never inherited by pi or the commands it runs.

Why not the control plane sending the set again when the bridge comes back: a restarted
bridge starts pi at once (prewarm), and a command could run before any resend arrived;
through the keeper the restarted bridge has the right values from its first instruction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from bridge_agent.environment import checked_update

logger = logging.getLogger("bridge_agent.environment")

ENVIRONMENT_FD_FLAG = "--environment-fd"


def encode(variables: Mapping[str, str], listed: Iterable[str] | None) -> bytes:
    message: dict[str, Any] = {"variables": dict(variables)}
    if listed is not None:
        message["secret_names"] = sorted(listed)
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> tuple[dict[str, str], list[str] | None] | None:
    """The set in one line, or ``None`` for a line that is not one (it is then ignored)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    try:
        return checked_update(message.get("variables"), message.get("secret_names"))
    except ValueError:
        return None


class KeeperHandoff:
    """The bridge's end of the pipe (absent when the bridge runs without a keeper)."""

    def __init__(self, descriptor: int | None) -> None:
        self._descriptor = descriptor
        self._lock = asyncio.Lock()

    async def send(self, variables: Mapping[str, str], listed: Iterable[str] | None) -> None:
        if self._descriptor is None:
            return
        data = encode(variables, listed)
        async with self._lock:  # a line longer than PIPE_BUF is written in pieces
            try:
                await asyncio.to_thread(_write_all, self._descriptor, data)
            except OSError as error:
                # The keeper is gone (it would restart nobody now) or the pipe broke.
                logger.warning("could not hand the new environment to the keeper: %s", error)
                self.close()

    def close(self) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self._descriptor)
            self._descriptor = None


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]
