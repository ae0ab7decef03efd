"""Typed readers for configuration that comes from the environment.

Every setting of Starter is read through these helpers so that a newcomer can run the
project with no config file, and an operator can see every knob in one table (README).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def port_list(raw: str) -> list[int]:
    """Ports from ``"80,8000-8002"`` (ranges included)."""
    ports: list[int] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        first, _, last = item.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError as exc:
            raise RuntimeError(f"Not a port or port range: {item!r}") from exc
        if not 0 < low <= high < 65536 or high - low > 1000:
            raise RuntimeError(f"Not a port or port range (at most 1000 ports): {item!r}")
        ports.extend(range(low, high + 1))
    return ports


def persistent_secret(data_dir: Path, filename: str, generate: Callable[[], str]) -> str:
    """Return a secret kept in the data directory, generating it on first use.

    Local installs get a stable SECRET_KEY and encryption key without writing a config
    file; production sets the environment variables and never touches this path.
    """
    path = data_dir / filename
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value: str = generate()
    # Create with 0600 so other local users cannot read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def random_secret_key() -> str:
    return secrets.token_urlsafe(50)


def random_database_password() -> str:
    # URL-safe, so it can sit in a DATABASE_URL without quoting.
    return secrets.token_urlsafe(32)
