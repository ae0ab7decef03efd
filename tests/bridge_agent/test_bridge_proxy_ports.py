"""A preview per port: the control plane names the app's port with ``APP_PORT_HEADER``.

Only a token-authenticated request reaches the proxy, so only the control plane can name a
port; the bridge refuses its own port and anything that is not a port, and the header never
reaches the app."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bridge_agent.protocol import APP_PORT_HEADER
from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.sample_app import SampleApp, free_port
from tests.support.bridge_process import BridgeProcess


@pytest.fixture(scope="module")
def sample_app() -> Iterator[SampleApp]:
    with SampleApp() as app:
        yield app


@pytest.fixture
def bridge(start_bridge: StartBridge) -> BridgeProcess:
    # The default app port has nothing listening: only the header reaches the sample app.
    return start_bridge(app_port=free_port())


def test_the_header_picks_the_port_and_never_reaches_the_app(
    bridge: BridgeProcess, sample_app: SampleApp
) -> None:
    with bridge.client() as client:
        assert client.get("/").status_code == 503  # the default port: the placeholder
        response = client.get("/echo", headers={APP_PORT_HEADER: str(sample_app.port)})
    assert response.status_code == 200
    headers = response.json()["headers"]
    assert APP_PORT_HEADER not in headers
    assert headers["host"] == f"localhost:{sample_app.port}"


def test_a_websocket_reaches_the_port_the_header_names(
    bridge: BridgeProcess, sample_app: SampleApp
) -> None:
    headers = {**bridge.headers, APP_PORT_HEADER: str(sample_app.port)}
    with connect(f"ws://127.0.0.1:{bridge.port}/ws", additional_headers=headers) as websocket:
        websocket.send("hi")
        assert websocket.recv(timeout=5) == "echo:hi"


@pytest.mark.parametrize("value", ["0", "99999", "65536", "-1", "3000x", "0x50", "1e3", "+80"])
def test_a_value_that_is_not_a_port_is_refused(bridge: BridgeProcess, value: str) -> None:
    with bridge.client() as client:
        response = client.get("/", headers={APP_PORT_HEADER: value})
    assert response.status_code == 400
    assert "1 to 65535" in response.text


def test_the_bridges_own_port_is_refused(bridge: BridgeProcess) -> None:
    with bridge.client() as client:
        response = client.get("/starter-loop", headers={APP_PORT_HEADER: str(bridge.port)})
        websocket_headers = {**bridge.headers, APP_PORT_HEADER: str(bridge.port)}
    assert response.status_code == 400
    assert "bridge's own" in response.text
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{bridge.port}/ws", additional_headers=websocket_headers)
    assert refused.value.response.status_code == 400


def test_the_header_sent_twice_is_refused(bridge: BridgeProcess, sample_app: SampleApp) -> None:
    port = str(sample_app.port)
    headers = [("x-starter-token", bridge.token), (APP_PORT_HEADER, port), (APP_PORT_HEADER, port)]
    response = httpx.get(f"{bridge.url}/echo", headers=headers, timeout=10)
    assert response.status_code == 400


def test_without_the_token_the_header_opens_nothing(
    bridge: BridgeProcess, sample_app: SampleApp
) -> None:
    response = httpx.get(
        f"{bridge.url}/echo", headers={APP_PORT_HEADER: str(sample_app.port)}, timeout=10
    )
    assert response.status_code == 401
    assert "Sample" not in response.text
