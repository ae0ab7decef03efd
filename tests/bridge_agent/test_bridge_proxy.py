"""Everything outside /starter/ is proxied to the app port: pages, streams, websockets."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.bridge_agent.conftest import StartBridge
from tests.bridge_agent.sample_app import CHUNK_PAUSE, SampleApp, free_port
from tests.support.bridge_process import BridgeProcess


@pytest.fixture(scope="module")
def sample_app() -> Iterator[SampleApp]:
    with SampleApp() as app:
        yield app


@pytest.fixture
def bridge(start_bridge: StartBridge, sample_app: SampleApp) -> BridgeProcess:
    return start_bridge(app_port=sample_app.port)


def test_proxy_serves_the_apps_page(bridge: BridgeProcess) -> None:
    with bridge.client() as client:
        response = client.get("/")
    assert response.status_code == 200
    assert response.text == "<h1>Sample app</h1>"
    assert response.headers["x-sample"] == "yes"


def test_proxy_forwards_method_body_query_and_headers_but_not_the_token(
    bridge: BridgeProcess,
) -> None:
    with bridge.client() as client:
        response = client.put(
            "/echo?a=1&b=two",
            content=b"payload-bytes",
            headers={"x-custom": "kept", "connection": "x-drop-me", "x-drop-me": "gone"},
        )
        bearer = httpx.get(
            f"{bridge.url}/echo", headers={"Authorization": f"Bearer {bridge.token}"}
        )
    echoed = response.json()
    assert (echoed["method"], echoed["query"], echoed["body"]) == (
        "PUT",
        "a=1&b=two",
        "payload-bytes",
    )
    headers = echoed["headers"]
    assert headers["x-custom"] == "kept"
    assert "x-starter-token" not in headers
    assert "x-drop-me" not in headers  # named in Connection: hop-by-hop
    assert headers["x-forwarded-host"] == f"127.0.0.1:{bridge.port}"
    assert headers["x-forwarded-proto"] == "http"
    assert response.headers["set-cookie"] == "sample=1; Path=/"
    assert "authorization" not in bearer.json()["headers"]


def test_proxy_streams_a_chunked_response_as_it_is_produced(bridge: BridgeProcess) -> None:
    arrivals = []
    with bridge.client() as client, client.stream("GET", "/stream") as response:
        asked = time.monotonic()
        for line in response.iter_lines():
            if line:
                arrivals.append((time.monotonic() - asked, line))
    assert [line.split()[0] for _, line in arrivals] == ["chunk-0", "chunk-1", "chunk-2"]
    # The first chunk came long before the app finished (two pauses later).
    assert arrivals[0][0] < CHUNK_PAUSE
    assert arrivals[-1][0] >= 2 * CHUNK_PAUSE * 0.9


def test_proxy_passes_server_sent_events_through(bridge: BridgeProcess) -> None:
    with bridge.client() as client:
        response = client.get("/events")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [line for line in response.text.splitlines() if line.startswith("data:")] == [
        "data: tick-0",
        "data: tick-1",
        "data: tick-2",
    ]


def test_proxy_relays_websockets(bridge: BridgeProcess) -> None:
    url = f"ws://127.0.0.1:{bridge.port}/ws"
    with connect(url, additional_headers=bridge.headers) as websocket:
        websocket.send("hello")
        assert websocket.recv(timeout=5) == "echo:hello"
        websocket.send(b"\x00\x01")
        assert websocket.recv(timeout=5) == b"echo:\x00\x01"


def test_websocket_without_token_is_refused(bridge: BridgeProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{bridge.port}/ws")
    assert refused.value.response.status_code == 401


def test_placeholder_page_when_nothing_listens(start_bridge: StartBridge) -> None:
    bridge = start_bridge(app_port=free_port())
    with bridge.client() as client:
        response = client.get("/some/page")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "Nothing is running here yet" in response.text


def test_config_app_port_retargets_the_proxy(
    start_bridge: StartBridge, sample_app: SampleApp
) -> None:
    bridge = start_bridge(app_port=free_port())
    with bridge.client() as client:
        assert client.get("/").status_code == 503
        configured = client.post("/starter/config", json={"app_port": sample_app.port})
        assert configured.json()["app_port"] == sample_app.port
        assert client.get("/").text == "<h1>Sample app</h1>"
    bridge.stop()
    restarted = start_bridge(bridge.home)
    with restarted.client() as client:  # the port is remembered in the home
        assert client.get("/").text == "<h1>Sample app</h1>"


def test_proxy_relays_chunked_uploads_and_large_bodies(bridge: BridgeProcess) -> None:
    def upload() -> Iterator[bytes]:
        yield b"first-"
        yield b"x" * 200_000
        yield b"-last"

    with bridge.client() as client:
        chunked = client.post("/echo", content=upload())
        big = client.post("/echo", content=b"y" * 1_500_000)
    assert chunked.json()["body"] == "first-" + "x" * 200_000 + "-last"
    assert big.json()["body"] == "y" * 1_500_000


def test_proxy_answers_head_and_keeps_the_connection_usable(bridge: BridgeProcess) -> None:
    with bridge.client() as client:
        head = client.head("/")
        assert head.status_code == 200 and head.content == b""
        for _ in range(5):
            assert client.get("/").text == "<h1>Sample app</h1>"
