"""A Sprite is hostile: whatever it puts in the path, query, headers or body, the gateway calls
no host but the provider's real base URL, below its base path, with the real key only there,
and bounded bodies. Raw sockets send what an HTTP client library would have cleaned up."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gateway.canned_upstream import CannedUpstream
from tests.gateway.conftest import REAL_KEYS, Tenant
from tests.support.live_stack import LiveStack
from tests.support.model_server import API_KEY, ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

BODY = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}).encode()


def raw_request(
    stack: LiveStack, target: str, headers: list[str], body: bytes = BODY, method: str = "POST"
) -> tuple[int, bytes]:
    """Send exactly these bytes; (status, body) of the answer."""
    address = urlsplit(stack.url)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {address.netloc}", *headers]
    lines.append(f"Content-Length: {len(body)}")
    if not any(h.lower().startswith("connection:") for h in headers):
        lines.append("Connection: close")
    lines += ["", ""]
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


def gateway_code(body: bytes) -> str:
    if b"starter_gateway" not in body:
        return ""
    return str(json.loads(body[body.index(b"{") : body.rindex(b"}") + 1])["error"]["code"])


@pytest.mark.parametrize(
    "path",
    [
        "/gateway/p/anthropic/../../admin/",
        "/gateway/p/anthropic/v1/../../../admin",
        "/gateway/p/anthropic/v1/..%2F..%2Fadmin",
        "/gateway/p/anthropic/v1/..%2f..%2fadmin",
        "/gateway/p/anthropic/%2e%2e/%2E%2E/admin",
        "/gateway/p/anthropic/v1/%252e%252e/admin",
        "/gateway/p/anthropic/v1/.",
        "/gateway/p/anthropic/v1\\..\\admin",
        "/gateway/p/anthropic/v1/%5c..%5cadmin",
        "/gateway/p/anthropic/v1/messages%3Fx=1",
        "/gateway/p/anthropic/v1/messages%00",
        "/gateway/p/fake/../../admin",
    ],
)
def test_paths_that_leave_the_base_are_refused(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream, path: str
) -> None:
    before = len(canned_upstream.seen)
    status, body = raw_request(gateway_stack, path, [f"x-api-key: {tenant.token}"])
    assert status == 400, body
    assert gateway_code(body) == "bad_request"
    assert len(canned_upstream.seen) == before


@pytest.mark.parametrize(
    "rest",
    [
        "//evil.example/v1/messages",
        "/@evil.example/v1/messages",
        "/http://evil.example/v1/messages",
        "/v1/messages@evil.example:80",
        "/:9999/x",
    ],
)
def test_hosts_in_the_rest_stay_a_path_on_the_providers_host(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream, rest: str
) -> None:
    before = len(canned_upstream.seen)
    status, _ = raw_request(
        gateway_stack, f"/gateway/p/anthropic{rest}", [f"x-api-key: {tenant.token}"]
    )
    seen = canned_upstream.seen[before:]
    assert status == 200
    # On the canned host, as a path below its base (Python's http.server folds a leading "//").
    assert [s.path.lstrip("/") for s in seen] == [rest.lstrip("/")]
    assert seen[0].headers["host"] == urlsplit(canned_upstream.url).netloc


@pytest.mark.parametrize(
    "target",
    [
        "/gateway/p/anthropic@evil.example/v1/messages",
        "/gateway/p/anthropic:443@evil.example/v1/messages",
        "/gateway/p/%2e%2e/v1/messages",
        "/gateway/p//anthropic/v1/messages",
        "/gateway/p/",
        "/gateway/anthropic/v1/messages",
    ],
)
def test_provider_names_that_are_not_names_are_unknown(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream, target: str
) -> None:
    before = len(canned_upstream.seen)
    status, body = raw_request(gateway_stack, target, [f"x-api-key: {tenant.token}"])
    assert status == 404 and gateway_code(body) == "provider_unknown", body
    assert len(canned_upstream.seen) == before


def test_an_absolute_url_as_request_target_reaches_no_other_host(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream
) -> None:
    before = len(canned_upstream.seen)
    status, _ = raw_request(
        gateway_stack,
        "http://evil.example/gateway/p/anthropic/v1/messages",
        [f"x-api-key: {tenant.token}"],
    )
    seen = canned_upstream.seen[before:]
    # Either not the gateway's at all, or the provider's own base: never another host.
    assert [s.path for s in seen] in ([], ["/v1/messages"])
    assert status in {200, 400, 404}


def test_injected_headers_never_replace_the_key_the_host_or_reach_upstream(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream
) -> None:
    before = len(canned_upstream.seen)
    response = httpx.post(
        f"{gateway_stack.url}/gateway/p/anthropic/v1/messages",
        params=[("key", tenant.token), ("key", "other"), ("beta", "true")],
        content=BODY,
        headers=[
            ("x-api-key", tenant.token),
            ("X-Api-Key", "sk-attacker-chosen"),
            ("Authorization", f"Bearer {tenant.token}"),
            ("x-goog-api-key", "other"),
            ("api-key", "other"),
            ("Connection", "keep-alive, anthropic-version"),
            ("anthropic-version", "2023-06-01"),
            ("Host", "evil.example"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "host=evil.example"),
            ("X-Starter-Session", "ok-session"),
            ("x-starter-token", "smuggled"),
            ("Proxy-Authorization", "Basic abc"),
            ("Cookie", "sessionid=x"),
            ("x_api_key", "underscore-variant"),
        ],
        timeout=10,
    )
    status = response.status_code
    assert status == 200
    seen = canned_upstream.seen[before:]
    assert len(seen) == 1
    headers = seen[0].headers
    assert headers["x-api-key"] == REAL_KEYS["anthropic"]
    assert headers["host"] == urlsplit(canned_upstream.url).netloc
    assert seen[0].path == "/v1/messages?beta=true"
    forbidden = {"authorization", "x-goog-api-key", "api-key", "cookie", "proxy-authorization"}
    assert not forbidden & set(headers)
    assert not [h for h in headers if h.startswith(("x-starter", "x-forwarded", "forwarded"))]
    assert "anthropic-version" not in headers  # named in Connection: hop-by-hop
    assert "sk-attacker-chosen" not in json.dumps(headers)
    assert tenant.token not in json.dumps(headers) + seen[0].path


def test_huge_bodies_are_refused_with_413_before_the_provider(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream
) -> None:
    before = len(canned_upstream.seen)
    huge = b'{"model": "claude-sonnet-4-5", "pad": "' + b"x" * (32 * 1024 * 1024) + b'"}'
    declared = httpx.post(
        f"{gateway_stack.url}/gateway/p/anthropic/v1/messages",
        content=huge,
        headers={"x-api-key": tenant.token},
        timeout=60,
    )
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "bad_request"

    def chunked() -> object:
        for start in range(0, len(huge), 1024 * 1024):
            yield huge[start : start + 1024 * 1024]

    streamed = httpx.post(
        f"{gateway_stack.url}/gateway/p/anthropic/v1/messages",
        content=chunked(),  # type: ignore[arg-type]
        headers={"x-api-key": tenant.token},
        timeout=60,
    )
    assert streamed.status_code == 413
    assert len(canned_upstream.seen) == before


def test_no_key_or_token_is_ever_logged(
    gateway_stack: LiveStack,
    tenant: Tenant,
    canned_upstream: CannedUpstream,
    scripted_model_server: ScriptedModelServer,
) -> None:
    headers = {"authorization": f"Bearer {tenant.token}"}
    base = f"{gateway_stack.url}/gateway/p"
    httpx.post(f"{base}/anthropic/v1/messages", json={"model": "m"}, headers=headers)
    httpx.post(
        f"{base}/google/models/gemini-2.5-flash:generateContent",
        params={"key": tenant.token},
        json={},
    )
    httpx.post(f"{base}/fake/chat/completions", json={"model": "fake-model"}, headers=headers)
    httpx.post(f"{base}/fake/chat/completions", headers={"authorization": "Bearer sgw_forged"})
    assert gateway_stack.log_dir is not None
    log = (gateway_stack.log_dir / "web.log").read_text(errors="replace")
    assert "gateway call: project=" + tenant.project.public_id in log
    for secret in [*REAL_KEYS.values(), API_KEY, tenant.token, "sgw_forged"]:
        assert secret not in log
