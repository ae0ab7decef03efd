"""Pytest fixtures around the scripted model server, for any suite that runs the real pi.

Use them from a ``conftest.py`` by importing them::

    from tests.support.fixtures import pi_home, scripted_model_server  # noqa: F401

``scripted_model_server`` is one ``ScriptedModelServer`` for the whole test session;
``pi_home`` is a fresh home directory whose ``.pi/agent`` points pi at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model_server import ScriptedModelServer, write_pi_config


@pytest.fixture(scope="session")
def scripted_model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def pi_home(tmp_path: Path, scripted_model_server: ScriptedModelServer) -> Path:
    home = tmp_path / "home"
    write_pi_config(home, scripted_model_server.base_url)
    return home
