"""Pytest fixtures around the scripted model server, for any suite that runs the real pi.

Use them from a ``conftest.py`` by importing them::

    from tests.support.fixtures import pi_home, scripted_model_server  # noqa: F401

``scripted_model_server`` is one ``ScriptedModelServer`` for the whole test session; it
answers only requests that present ``API_KEY``, the key both ways of configuring pi give it
(``write_pi_config``'s literal key, and the control plane's custom provider through
``tests.e2e.helpers.use_scripted_model``, whose ``$VARIABLE`` pi must resolve to the value).
``pi_home`` is a fresh home directory whose ``.pi/agent`` points pi at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model_server import API_KEY, ScriptedModelServer, write_pi_config


@pytest.fixture(scope="session")
def scripted_model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def pi_home(tmp_path: Path, scripted_model_server: ScriptedModelServer) -> Path:
    home = tmp_path / "home"
    write_pi_config(home, scripted_model_server.base_url)
    return home
