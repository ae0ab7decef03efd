"""Every request needs the token (but health); bad input gets a clear 4xx JSON error."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.bridge_process import BridgeProcess, EventStream

PROTECTED = [
    ("GET", "/starter/events"),
    ("POST", "/starter/prompt"),
    ("POST", "/starter/steer"),
    ("POST", "/starter/follow-up"),
    ("POST", "/starter/abort"),
    ("GET", "/starter/state"),
    ("POST", "/starter/config"),
    ("GET", "/starter/sessions"),
    ("POST", "/starter/sessions/new"),
    ("POST", "/starter/sessions/switch"),
    ("POST", "/starter/sessions/compact"),
    ("GET", "/starter/messages"),
    ("GET", "/starter/inspect"),
    ("GET", "/starter/sessions/abc/trace"),
    ("GET", "/starter/nope"),
    ("GET", "/"),
    ("POST", "/api/anything?x=1"),
]


def test_health_answers_without_token_and_reveals_nothing(shared_bridge: BridgeProcess) -> None:
    response = httpx.get(f"{shared_bridge.url}/starter/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_other_path_needs_the_token(
    shared_bridge: BridgeProcess, method: str, path: str
) -> None:
    url = f"{shared_bridge.url}{path}"
    missing = httpx.request(method, url)
    wrong = httpx.request(method, url, headers={"X-Starter-Token": "wrong"})
    wrong_bearer = httpx.request(method, url, headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong, wrong_bearer):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"


def test_bearer_token_is_accepted(shared_bridge: BridgeProcess) -> None:
    response = httpx.get(
        f"{shared_bridge.url}/starter/sessions",
        headers={"Authorization": f"Bearer {shared_bridge.token}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/starter/prompt", b"{not json", "invalid_json"),
        ("/starter/prompt", b"[1, 2]", "invalid_json"),
        ("/starter/prompt", b"{}", "invalid_field"),
        ("/starter/prompt", b'{"message": ""}', "invalid_field"),
        ("/starter/prompt", b'{"message": 5}', "invalid_field"),
        ("/starter/prompt", b'{"message": "hi", "images": "x"}', "invalid_field"),
        ("/starter/steer", b'{"message": null}', "invalid_field"),
        ("/starter/follow-up", b"nope", "invalid_json"),
        ("/starter/prompt", b'{"message": "hi", "session_id": 7}', "invalid_field"),
        ("/starter/config", b'{"model": "no-slash"}', "invalid_field"),
        ("/starter/config", b'{"thinking_level": "extreme"}', "invalid_field"),
        ("/starter/config", b'{"app_port": 70000}', "invalid_field"),
        ("/starter/config", b'{"app_port": "3000"}', "invalid_field"),
        ("/starter/config", b'{"colour": "red"}', "invalid_field"),
        ("/starter/sessions/switch", b"{}", "invalid_field"),
    ],
)
def test_bad_input_gets_a_400_with_a_message(
    shared_bridge: BridgeProcess, path: str, body: bytes, code: str
) -> None:
    with shared_bridge.client() as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


def test_unknown_session_is_404(shared_bridge: BridgeProcess) -> None:
    with shared_bridge.client() as client:
        prompt = client.post("/starter/prompt", json={"message": "hi", "session_id": "nope"})
        switch = client.post("/starter/sessions/switch", json={"session_id": "nope"})
        trace = client.get("/starter/sessions/nope/trace")
        traversal = client.get("/starter/sessions/..%2F..%2Fevents/trace")
        messages = client.get("/starter/messages", params={"session_id": "nope"})
    for response in (prompt, switch, messages):
        assert response.status_code == 404
        assert response.json()["error"] == "unknown_session"
    assert trace.status_code == 404 and trace.json()["error"] == "unknown_session"
    assert traversal.status_code == 404


def test_unknown_endpoint_and_wrong_method_are_json_errors(shared_bridge: BridgeProcess) -> None:
    with shared_bridge.client() as client:
        missing = client.get("/starter/nope")
        wrong_method = client.get("/starter/prompt")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


def test_bad_event_cursor_is_400(shared_bridge: BridgeProcess) -> None:
    with shared_bridge.client() as client:
        response = client.get("/starter/events", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_cursor"


def test_unknown_model_is_400_with_pi_reason(shared_bridge: BridgeProcess) -> None:
    with shared_bridge.client() as client:
        response = client.post("/starter/config", json={"model": "fake/no-such-model"})
    assert response.status_code == 400
    assert "fake/no-such-model" in response.json()["message"]


def test_idle_event_stream_gets_keepalive_comments(shared_bridge: BridgeProcess) -> None:
    # shared_bridge runs with --keepalive 1
    with EventStream(shared_bridge) as stream:
        time.sleep(1.6)
        assert stream.comments >= 1


def test_app_port_cannot_be_the_bridge_itself(shared_bridge: BridgeProcess) -> None:
    with shared_bridge.client() as client:
        response = client.post("/starter/config", json={"app_port": shared_bridge.port})
    assert response.status_code == 400
    assert "loop" in response.json()["message"]
