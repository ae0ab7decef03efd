"""Sprite backends: one interface (``base.SpriteBackend``), two siblings.

``get_backend("local", data_dir=...)`` runs Sprites as processes on this machine;
``get_backend("fly", token=..., base_url=...)`` drives the Fly Sprites API.
"""

from __future__ import annotations

from typing import Any

from sprites.backends.base import (
    BridgeEndpoint,
    BridgeEnvironment,
    Checkpoint,
    EnvironmentUpdate,
    ExecResult,
    FileEntry,
    SpriteBackend,
    SpriteError,
    SpriteInfo,
    SpriteStatus,
    run_sync,
)

BACKEND_KINDS = ("local", "fly")

__all__ = [
    "BACKEND_KINDS",
    "BridgeEndpoint",
    "BridgeEnvironment",
    "Checkpoint",
    "EnvironmentUpdate",
    "ExecResult",
    "FileEntry",
    "SpriteBackend",
    "SpriteError",
    "SpriteInfo",
    "SpriteStatus",
    "get_backend",
    "run_sync",
]


def get_backend(kind: str = "local", **config: Any) -> SpriteBackend:
    """The backend named ``kind`` built from plain ``config`` values.

    local: ``data_dir`` (required), ``environment_source``, ``python``, ``bridge_path``,
    ``pi_bin``, ``base_environment``, ``sandbox``, ``start_timeout``, ``bridge_arguments``.
    fly: ``token`` (required), ``base_url``, ``bridge_source``, ``home``, ``timeout``,
    ``environment_source``, ``health_timeout``.
    """
    if kind == "local":
        from sprites.backends.local import LocalBackend

        return LocalBackend(**config)
    if kind == "fly":
        from sprites.backends.fly import FlyBackend

        return FlyBackend(**config)
    raise SpriteError(f"Unknown Sprite backend {kind!r}: choose one of {', '.join(BACKEND_KINDS)}.")
