"""Keep file operations inside a Sprite's home directory."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePosixPath

from sprites.backends.base import SpriteError


def _check_shape(path: str) -> PurePosixPath:
    if not path or "\x00" in path:
        raise SpriteError(f"Invalid path {path!r}: give a path inside the Sprite's home.")
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise SpriteError(
            f"Path {path!r} contains '..': give a path inside the Sprite's home without '..'."
        )
    return pure


def confined_local_path(home: Path, path: str) -> Path:
    """The real path of ``path`` (relative to ``home``, or absolute under it).

    Symlinks are resolved, so a link inside the home that points outside it is refused
    just like ``..`` or an absolute path elsewhere.
    """
    pure = _check_shape(path)
    home_real = Path(os.path.realpath(home))
    if pure.is_absolute():
        relative = _relative_to_any(Path(pure), (home, home_real))
        if relative is None:
            raise SpriteError(
                f"Path {path!r} is outside the Sprite's home; use a path relative to the home."
            )
    else:
        relative = Path(pure)
    real = Path(os.path.realpath(home_real / relative))
    if real != home_real and home_real not in real.parents:
        raise SpriteError(
            f"Path {path!r} leads outside the Sprite's home (through a symbolic link)."
        )
    return real


def _relative_to_any(path: Path, bases: tuple[Path, ...]) -> Path | None:
    for base in bases:
        try:
            return path.relative_to(base)
        except ValueError:
            continue
    return None


def confined_remote_path(home: str, path: str) -> str:
    """The absolute path of ``path`` under a remote ``home``, checked lexically
    (a remote Sprite is its own machine; this keeps callers inside their workspace)."""
    pure = _check_shape(path)
    if pure.is_absolute():
        joined = posixpath.normpath(str(pure))
    else:
        joined = posixpath.normpath(posixpath.join(home, str(pure)))
    if joined != home and not joined.startswith(home.rstrip("/") + "/"):
        raise SpriteError(
            f"Path {path!r} is outside the Sprite's home; use a path relative to the home."
        )
    return joined
