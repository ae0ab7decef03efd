"""The shape of a path into a Sprite's home (local homes are then opened with
``beneath.Home``; remote ones are checked lexically here)."""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath

from sprites.backends.base import SpriteError


def check_path_shape(path: str) -> PurePosixPath:
    if not path or "\x00" in path:
        raise SpriteError(
            f"Invalid path {path!r}: give a path inside the Sprite's home.", path_problem="refused"
        )
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise SpriteError(
            f"Path {path!r} contains '..': give a path inside the Sprite's home without '..'.",
            path_problem="refused",
        )
    return pure


def confined_remote_path(home: str, path: str) -> str:
    """The absolute path of ``path`` under a remote ``home``, checked lexically
    (a remote Sprite is its own machine; this keeps callers inside their workspace)."""
    pure = check_path_shape(path)
    if pure.is_absolute():
        joined = posixpath.normpath(str(pure))
    else:
        joined = posixpath.normpath(posixpath.join(home, str(pure)))
    if joined != home and not joined.startswith(home.rstrip("/") + "/"):
        raise SpriteError(
            f"Path {path!r} is outside the Sprite's home; use a path relative to the home.",
            path_problem="refused",
        )
    return joined
