"""The gateway forwarding real calls: daphne serving ``starter.asgi``, the scripted model
server behind a custom provider, a canned Anthropic/Google/OpenAI upstream behind the
built-in providers (moved there by ``STARTER_GATEWAY_UPSTREAMS``), the ledger in the real
PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from accounts.models import CustomProvider
from bridge_agent.protocol import GATEWAY_ERROR_TYPE, parse_gateway_marker
from gateway.models import UsageRecord
from gateway.tokens import revoke
from organisations.personal import personal_organisation_of
from projects.models import Status
from tests.gateway.canned_upstream import (
    ANTHROPIC_USAGE,
    GOOGLE_USAGE,
    RESPONSES_USAGE,
    CannedUpstream,
)
from tests.gateway.conftest import REAL_KEYS, Tenant, make_tenant
from tests.support.live_stack import LiveStack
from tests.support.model_server import API_KEY, ScriptedModelServer

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]


def completions_body(text: str, *, stream: bool = True) -> dict[str, Any]:
    return {
        "model": "fake-model",
        "stream": stream,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
        "tools": TOOLS,
    }


def url(stack: LiveStack, provider: str, rest: str) -> str:
    return f"{stack.url}/gateway/p/{provider}{rest}"


def ledger_row(tenant: Tenant, count: int = 1, timeout: float = 10.0) -> UsageRecord:
    """The project's newest ledger row, once there are ``count`` (written after the answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(UsageRecord.objects.filter(project_public_id=tenant.project.public_id))
        if len(rows) >= count:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"no ledger row #{count} for the project")


def assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == GATEWAY_ERROR_TYPE
    assert error["code"] == code
    assert error["message"].startswith("Starter gateway: ")
    parsed = parse_gateway_marker(error["message"])
    assert parsed is not None and parsed[0] == code
    return parsed[2]


def established_to(port: int) -> int:
    """ESTABLISHED TCP connections whose remote end is ``port`` on this machine."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":
                count += 1
    return count


def test_a_stream_arrives_chunk_by_chunk_with_the_real_key_and_is_metered(
    gateway_stack: LiveStack, tenant: Tenant, scripted_model_server: ScriptedModelServer
) -> None:
    body = completions_body("[[slow: 8]] [[usage: 1234 56 7]]")
    arrivals: list[float] = []
    chunks: list[bytes] = []
    started = time.monotonic()
    with httpx.stream(
        "POST",
        url(gateway_stack, "fake", "/chat/completions"),
        json=body,
        headers={
            "authorization": f"Bearer {tenant.token}",
            "x-starter-session": "session-1",
            "x-starter-anything": "no",
        },
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for chunk in response.iter_raw():
            arrivals.append(time.monotonic() - started)
            chunks.append(chunk)
    text = b"".join(chunks).decode()
    assert "tick0" in text and "tick7" in text and text.rstrip().endswith("data: [DONE]")
    # 8 deltas 0.1 s apart: the first is through long before the last was even sent.
    assert len(arrivals) >= 4
    assert arrivals[-1] - arrivals[0] > 0.5
    first_tick = next(i for i, c in enumerate(chunks) if b"tick0" in c)
    assert arrivals[first_tick] < arrivals[-1] - 0.5

    assert scripted_model_server.keys[-1] == API_KEY  # the real key, swapped in
    assert tenant.token not in json.dumps(scripted_model_server.requests[-1])
    assert scripted_model_server.requests[-1] == body  # the body went unchanged

    row = ledger_row(tenant)
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens) == (1234, 56, 7)
    assert row.cache_write_tokens == 0
    assert row.provider == "fake" and row.model == "fake-model"
    assert row.session_id == "session-1"
    assert row.user_id == tenant.owner.pk and row.project_id == tenant.project.pk
    assert row.status_code == 200 and row.complete
    assert row.cost is None  # the custom provider has no prices: "price unknown"


def test_a_non_streamed_answer_is_metered_too(
    gateway_stack: LiveStack, tenant: Tenant, scripted_model_server: ScriptedModelServer
) -> None:
    """The scripted server always streams; the canned Anthropic upstream answers JSON."""
    response = httpx.post(
        url(gateway_stack, "anthropic", "/v1/messages"),
        json={"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": []},
        headers={"x-api-key": tenant.token, "anthropic-version": "2023-06-01"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["type"] == "message"
    row = ledger_row(tenant)
    u = ANTHROPIC_USAGE
    assert (row.input_tokens, row.output_tokens) == (u["input"], u["output"])
    assert (row.cache_read_tokens, row.cache_write_tokens) == (u["cache_read"], u["cache_write"])
    assert row.cost is not None and row.cost > 0  # pi's price for a built-in model


def test_anthropic_stream_gets_the_real_key_in_x_api_key_and_no_starter_headers(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream
) -> None:
    before = len(canned_upstream.seen)
    with httpx.stream(
        "POST",
        url(gateway_stack, "anthropic", "/v1/messages"),
        json={"model": "claude-sonnet-4-5", "stream": True, "max_tokens": 10, "messages": []},
        headers={
            "x-api-key": tenant.token,
            "anthropic-version": "2023-06-01",
            "x-starter-session": "sess-a",
            "X-Starter-Token": "smuggled",
            "cookie": "sessionid=dashboard-cookie",
            "x-forwarded-for": "10.0.0.1",
        },
        timeout=10,
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
    assert "message_stop" in text
    seen = canned_upstream.seen[before:]
    assert len(seen) == 1
    headers = seen[0].headers
    assert headers["x-api-key"] == REAL_KEYS["anthropic"]
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers and "cookie" not in headers
    assert not [name for name in headers if name.startswith("x-starter-")]
    assert headers["accept-encoding"] == "identity"
    assert tenant.token not in json.dumps(headers)
    assert seen[0].path == "/v1/messages"
    row = ledger_row(tenant)
    u = ANTHROPIC_USAGE
    assert (row.input_tokens, row.output_tokens) == (u["input"], u["output"])
    assert (row.cache_read_tokens, row.cache_write_tokens) == (u["cache_read"], u["cache_write"])
    assert row.model == "claude-sonnet-4-5" and row.session_id == "sess-a"


def test_google_sse_and_json_array_with_the_key_in_the_query(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream
) -> None:
    before = len(canned_upstream.seen)
    model = "gemini-2.5-flash"
    sse = httpx.post(
        url(gateway_stack, "google", f"/models/{model}:streamGenerateContent"),
        params={"alt": "sse", "key": tenant.token},
        json={"contents": []},
        timeout=10,
    )
    array = httpx.post(
        url(gateway_stack, "google", f"/models/{model}:streamGenerateContent"),
        json={"contents": []},
        headers={"x-goog-api-key": tenant.token},
        timeout=10,
    )
    assert sse.status_code == 200 and array.status_code == 200
    assert isinstance(array.json(), list)
    seen = canned_upstream.seen[before:]
    assert [s.path for s in seen] == [
        f"/v1beta/models/{model}:streamGenerateContent?alt=sse",  # ``key`` removed
        f"/v1beta/models/{model}:streamGenerateContent",
    ]
    assert all(s.headers["x-goog-api-key"] == REAL_KEYS["google"] for s in seen)
    g = GOOGLE_USAGE
    ledger_row(tenant, 2)
    rows = UsageRecord.objects.filter(project=tenant.project)
    assert len(rows) == 2
    for row in rows:
        assert row.input_tokens == g["prompt"] - g["cached"]
        assert row.cache_read_tokens == g["cached"]
        assert row.output_tokens == g["candidates"] + g["thoughts"]
        assert row.model == model


def test_openai_responses_stream_is_metered_with_bearer_key(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream
) -> None:
    before = len(canned_upstream.seen)
    response = httpx.post(
        url(gateway_stack, "openai", "/responses"),
        json={"model": "gpt-5", "stream": True, "input": "hi"},
        headers={"authorization": f"Bearer {tenant.token}"},
        timeout=10,
    )
    assert response.status_code == 200
    seen = canned_upstream.seen[before:]
    assert seen[0].path == "/v1/responses"
    assert seen[0].headers["authorization"] == f"Bearer {REAL_KEYS['openai']}"
    row = ledger_row(tenant)
    r = RESPONSES_USAGE
    assert (row.input_tokens, row.cache_read_tokens, row.output_tokens) == (
        r["input"],
        r["cached"],
        r["output"],
    )


def test_openrouter_routes_by_model_to_its_two_bases(
    gateway_stack: LiveStack, tenant: Tenant, canned_upstream: CannedUpstream
) -> None:
    """Anthropic-shaped models live at ``/api``, the others at ``/api/v1`` (pi's table)."""
    from accounts.model_catalog import pi_registry

    models = pi_registry()["openrouter"]
    anthropic = next(m.id for m in models if m.api == "anthropic-messages")
    completions = next(m.id for m in models if m.api == "openai-completions")
    before = len(canned_upstream.seen)
    for model, rest in ((anthropic, "/v1/messages"), (completions, "/chat/completions")):
        response = httpx.post(
            url(gateway_stack, "openrouter", rest),
            json={"model": model},
            headers={"authorization": f"Bearer {tenant.token}"},
            timeout=10,
        )
        assert response.status_code == 200
    seen = canned_upstream.seen[before:]
    assert [s.path for s in seen] == ["/api/v1/messages", "/api/v1/chat/completions"]
    assert seen[0].headers["x-api-key"] == REAL_KEYS["openrouter"]
    assert seen[1].headers["authorization"] == f"Bearer {REAL_KEYS['openrouter']}"


def test_provider_errors_pass_through_unchanged(
    gateway_stack: LiveStack, tenant: Tenant, scripted_model_server: ScriptedModelServer
) -> None:
    response = httpx.post(
        url(gateway_stack, "fake", "/chat/completions"),
        json=completions_body("[[fail: 400]]"),
        headers={"authorization": f"Bearer {tenant.token}"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {"error": {"message": "scripted failure"}}
    row = ledger_row(tenant)
    assert row.status_code == 400 and row.total_tokens == 0


def test_tokens_missing_forged_and_revoked_are_refused_by_the_gateway(
    gateway_stack: LiveStack, tenant: Tenant, scripted_model_server: ScriptedModelServer
) -> None:
    target = url(gateway_stack, "fake", "/chat/completions")
    body = completions_body("hello")
    requests_before = len(scripted_model_server.requests)

    missing = httpx.post(target, json=body, timeout=10)
    assert_refused(missing, 401, "token_missing")
    forged = httpx.post(
        target, json=body, headers={"authorization": "Bearer sgw_forged-token"}, timeout=10
    )
    assert_refused(forged, 401, "token_invalid")
    provider_key = httpx.post(
        target, json=body, headers={"authorization": f"Bearer {API_KEY}"}, timeout=10
    )
    assert_refused(provider_key, 401, "token_invalid")

    ok = httpx.post(
        target, json=body, headers={"authorization": f"Bearer {tenant.token}"}, timeout=10
    )
    assert ok.status_code == 200
    revoke(tenant.project)
    revoked = httpx.post(
        target, json=body, headers={"authorization": f"Bearer {tenant.token}"}, timeout=10
    )
    assert_refused(revoked, 401, "token_invalid")
    assert len(scripted_model_server.requests) == requests_before + 1  # only the good one


def test_a_destroyed_project_token_no_longer_works(
    gateway_stack: LiveStack, tenant: Tenant
) -> None:
    tenant.project.status = Status.DESTROYED
    tenant.project.save(update_fields=["status"])
    response = httpx.post(
        url(gateway_stack, "fake", "/chat/completions"),
        json=completions_body("hello"),
        headers={"authorization": f"Bearer {tenant.token}"},
        timeout=10,
    )
    assert_refused(response, 401, "token_invalid")


def test_another_users_provider_and_missing_keys_are_refused(
    gateway_stack: LiveStack,
    tenant: Tenant,
    scripted_model_server: ScriptedModelServer,
    canned_upstream: CannedUpstream,
) -> None:
    other = make_tenant("other-owner@example.com")
    CustomProvider.objects.create(
        organisation=personal_organisation_of(other.owner),
        user=other.owner,
        name="bobs-llm",
        base_url=canned_upstream.url + "/v1",
        model_ids=["x"],
        api_key="sk-bobs-own-key",
    )
    before = len(canned_upstream.seen)
    headers = {"authorization": f"Bearer {tenant.token}"}
    theirs = httpx.post(
        url(gateway_stack, "bobs-llm", "/chat/completions"),
        json={"model": "x"},
        headers=headers,
        timeout=10,
    )
    details = assert_refused(theirs, 404, "provider_unknown")
    assert details["provider"] == "bobs-llm"
    no_key = httpx.post(
        url(gateway_stack, "deepseek", "/chat/completions"),
        json={"model": "deepseek-chat"},
        headers=headers,
        timeout=10,
    )
    assert_refused(no_key, 403, "provider_key_missing")
    azure = httpx.post(
        url(gateway_stack, "azure", "/responses"), json={"model": "gpt-5"}, headers=headers
    )
    assert_refused(azure, 404, "provider_unknown")
    assert "custom provider" in azure.json()["error"]["message"]
    assert len(canned_upstream.seen) == before


def test_an_abort_mid_stream_closes_the_upstream_and_records_an_incomplete_call(
    gateway_stack: LiveStack, tenant: Tenant, scripted_model_server: ScriptedModelServer
) -> None:
    started = time.monotonic()
    with httpx.stream(
        "POST",
        url(gateway_stack, "fake", "/chat/completions"),
        json=completions_body("[[slow: 300]] [[usage: 10 20 0]]"),
        headers={"authorization": f"Bearer {tenant.token}"},
        timeout=30,
    ) as response:
        received = b""
        chunks = response.iter_raw()  # held: leaving the loop must not close the response yet
        for chunk in chunks:
            received += chunk
            if b"tick2" in received:
                break
        # The gateway's request to the model server is open while the answer streams.
        assert established_to(scripted_model_server.port) >= 1
        response.close()
    # The caller left after ~0.3 s of a 30 s answer: the gateway closes its request at once.
    deadline = time.monotonic() + 5
    while established_to(scripted_model_server.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert established_to(scripted_model_server.port) == 0
    row = ledger_row(tenant)
    assert not row.complete
    assert row.status_code == 200
    assert row.duration_ms < 5000 and time.monotonic() - started < 10
    assert row.total_tokens == 0  # the usage comes at the end, which never came


def test_a_provider_breaking_off_ends_the_stream_with_an_error_event(
    gateway_stack: LiveStack, tenant: Tenant
) -> None:
    """The caller's SDK raises on the error event: a cut answer is never taken for whole."""
    response = httpx.post(
        url(gateway_stack, "anthropic", "/v1/messages"),
        json={"model": "claude-sonnet-4-5", "stream": True, "break_off": True},
        headers={"x-api-key": tenant.token},
        timeout=10,
    )
    assert response.status_code == 200
    text = response.text
    assert '"text": "Hi"' in text  # what the provider sent before it fell over
    last = text.strip().split("\n\n")[-1]
    assert last.startswith("event: error\ndata: ")
    error = json.loads(last.split("data: ", 1)[1])["error"]
    assert error["code"] == "upstream_unreachable"
    assert parse_gateway_marker(error["message"]) is not None
    row = ledger_row(tenant)
    assert not row.complete
    assert (row.input_tokens, row.cache_read_tokens) == (
        ANTHROPIC_USAGE["input"],
        ANTHROPIC_USAGE["cache_read"],
    )
    assert gateway_stack.log_dir is not None
    assert "Traceback" not in (gateway_stack.log_dir / "web.log").read_text(errors="replace")


def test_an_unreachable_provider_is_a_502_from_the_gateway(
    gateway_stack: LiveStack, tenant: Tenant
) -> None:
    CustomProvider.objects.create(
        organisation=personal_organisation_of(tenant.owner),
        user=tenant.owner,
        name="gone",
        base_url="http://127.0.0.1:9/v1",  # discard port: nothing listens
        model_ids=["x"],
        api_key="sk-gone",
    )
    response = httpx.post(
        url(gateway_stack, "gone", "/chat/completions"),
        json={"model": "x"},
        headers={"authorization": f"Bearer {tenant.token}"},
        timeout=20,
    )
    assert_refused(response, 502, "upstream_unreachable")
    assert "sk-gone" not in response.text


def test_a_preview_host_never_reaches_the_gateway(
    gateway_stack: LiveStack, tenant: Tenant, scripted_model_server: ScriptedModelServer
) -> None:
    before = len(scripted_model_server.requests)
    response = httpx.post(
        url(gateway_stack, "fake", "/chat/completions"),
        json=completions_body("hello"),
        headers={
            "authorization": f"Bearer {tenant.token}",
            "host": f"{tenant.project.public_id}.localhost",
        },
        timeout=10,
    )
    assert response.status_code == 403  # the preview proxy's answer: no preview cookie
    assert "text/html" in response.headers["content-type"]
    assert len(scripted_model_server.requests) == before
    assert not UsageRecord.objects.filter(project=tenant.project).exists()
