"""Fixtures for the bridge tests: real bridge subprocesses, real pi, the scripted model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bridge_process import BridgeProcess
from tests.support.fixtures import pi_home, scripted_model_server
from tests.support.model_server import ScriptedModelServer, write_pi_config

__all__ = ["pi_home", "scripted_model_server"]

StartBridge = Callable[..., BridgeProcess]


@pytest.fixture(scope="module")
def shared_bridge(
    tmp_path_factory: pytest.TempPathFactory, scripted_model_server: ScriptedModelServer
) -> Iterator[BridgeProcess]:
    """One bridge for a whole test module (starting pi costs about a second)."""
    home = tmp_path_factory.mktemp("shared") / "home"
    write_pi_config(home, scripted_model_server.base_url)
    bridge = BridgeProcess(home, prewarm=True, keepalive=1.0).start()
    try:
        yield bridge
    finally:
        bridge.stop()


@pytest.fixture
def start_bridge(
    tmp_path: Path, scripted_model_server: ScriptedModelServer
) -> Iterator[StartBridge]:
    """Start bridges on demand (``home=`` to reuse one); all are stopped after the test."""
    started: list[BridgeProcess] = []

    def start(home: Path | None = None, **options: Any) -> BridgeProcess:
        if home is None:
            home = tmp_path / f"home{len(started)}"
            write_pi_config(home, scripted_model_server.base_url)
        bridge = BridgeProcess(home, **options).start()
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()
