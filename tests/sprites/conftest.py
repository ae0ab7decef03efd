"""Fixtures for the Sprite backend tests: a local backend with the real bridge, the fake
Sprites API, and a fly backend pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from sprites.backends import processes
from sprites.backends.local import PROJECT_ROOT, LocalBackend
from sprites.backends.sdk import load_sdk
from starter.env import port_list
from tests.support.fake_sprites_api import RunningFake, running_fake_sprites_api

if TYPE_CHECKING:
    from sprites.backends.fly import FlyBackend

FAKE_TOKEN = "fake-org/1/0123456789abcdef"
# What a Sprite image ships with, in the fake: the project's Python (with the bridge's
# dependencies) and the pinned pi, so bootstrap finds them and installs nothing.
FAKE_IMAGE_PATH = [str(PROJECT_ROOT / ".venv" / "bin"), str(PROJECT_ROOT / "node_modules" / ".bin")]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short paths under /tmp: unix socket paths the bridge may create have a length limit.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sprites-test-") as directory:
        yield Path(directory)


@pytest.fixture
async def local_backend(data_dir: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(
        data_dir,
        start_timeout=20.0,
        bridge_arguments=["--no-prewarm"],
        loopback_ports=port_list(os.environ.get("STARTER_SPRITE_LOOPBACK_PORTS", "")),
    )
    yield backend
    for info in await backend.list_sprites():
        await backend.destroy(info.name)
    processes.reap_started()


@pytest.fixture
def fake_api(data_dir: Path) -> Iterator[RunningFake]:
    with running_fake_sprites_api(
        data_dir / "fake", FAKE_TOKEN, extra_path=FAKE_IMAGE_PATH
    ) as fake:
        yield fake


@pytest.fixture
def fly_backend(fake_api: RunningFake) -> FlyBackend:
    from sprites.backends.fly import FlyBackend

    return FlyBackend(token=fake_api.token, base_url=fake_api.base_url)


@pytest.fixture(scope="session")
def sdk() -> ModuleType:
    """The real sprites-py package (loaded under a private name, see sprites/backends/sdk.py)."""
    os.environ.setdefault("SPRITES_CLIENT_SIGNALS", "0")
    return load_sdk()
