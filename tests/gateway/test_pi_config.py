"""What pi in a Sprite is told (gateway/pi_config.py), checked against pi itself.

The document must satisfy pi's own schema, hold no key and nothing of another person, and
make the real pi treat every provider as usable and send its calls, with the project's
gateway token and the session's id, to the gateway's path for that provider.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from accounts import user_settings
from accounts.models import User
from bridge_agent.config import EXTENSION_PATH
from bridge_agent.protocol import GATEWAY_SESSION_HEADER, GATEWAY_TOKEN_VARIABLE
from gateway import pi_config
from gateway.pi_config import pi_models_document
from organisations import provider_settings
from organisations.personal import personal_organisation_of

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "node_modules" / ".bin"
SCHEMA = REPO / "node_modules/@earendil-works/pi-coding-agent/schemas/models.schema.json"
GATEWAY = "http://127.0.0.1:18123/gateway"
OPENAI_KEY = "sk-real-openai-5b7f0e21"
ANTHROPIC_KEY = "sk-ant-real-91c0d3aa"
CUSTOM_KEY = "sk-custom-7c2e44d1"
BOB_KEY = "sk-bob-only-0a9d55e3"


@pytest.fixture(autouse=True)
def _gateway_url(settings: Any) -> None:
    settings.STARTER_GATEWAY_URL = GATEWAY


def keyed_alice(alice: User) -> None:
    provider_settings.set_api_key(personal_organisation_of(alice), alice, "openai", OPENAI_KEY)
    provider_settings.set_api_key(
        personal_organisation_of(alice), alice, "anthropic", ANTHROPIC_KEY
    )
    provider_settings.set_api_key(personal_organisation_of(alice), alice, "azure", "az-real-key-1")
    provider_settings.save_custom_provider(
        personal_organisation_of(alice),
        alice,
        "my-vllm",
        "openai-completions",
        "https://gpu.example.com/v1",
        ["qwen-coder", "llama"],
        CUSTOM_KEY,
        user_settings.ProviderPrices(Decimal("0.5"), Decimal("1.5"), Decimal("0.05"), None),
    )
    provider_settings.save_custom_provider(
        personal_organisation_of(alice),
        alice,
        "unpriced",
        "anthropic-messages",
        "https://llm.example.com",
        ["m1"],
        None,
    )


def schema_problems(document: dict[str, object]) -> list[str]:
    """pi's models.schema.json, checked with the JSON Schema validator pi itself ships."""
    script = (
        'import { Value } from "typebox/value"; import fs from "node:fs";'
        "const schema = JSON.parse(fs.readFileSync(process.argv[1]));"
        "const doc = JSON.parse(process.argv[2]);"
        "process.stdout.write(JSON.stringify([...Value.Errors(schema, doc)]"
        ".map((e) => e.instancePath + ' ' + e.message)));"
    )
    result = subprocess.run(
        [str(BIN / "node"), "--input-type=module", "-e", script, str(SCHEMA), json.dumps(document)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return list(json.loads(result.stdout))


def test_every_provider_points_at_the_gateway_with_the_token_never_a_key(
    alice: User, bob: User
) -> None:
    keyed_alice(alice)
    provider_settings.set_api_key(personal_organisation_of(bob), bob, "groq", BOB_KEY)
    provider_settings.save_custom_provider(
        personal_organisation_of(bob),
        bob,
        "bobs-box",
        "openai-completions",
        "https://bob.example.com/v1",
        ["b"],
        BOB_KEY,
    )

    document = pi_models_document(personal_organisation_of(alice))
    providers: dict[str, Any] = document["providers"]  # type: ignore[assignment]

    assert providers["openai"] == {
        "baseUrl": f"{GATEWAY}/p/openai",
        "apiKey": "$STARTER_GATEWAY_TOKEN",
    }
    assert providers["anthropic"] == {
        "baseUrl": f"{GATEWAY}/p/anthropic",
        "apiKey": "$STARTER_GATEWAY_TOKEN",
    }
    assert "azure" not in providers  # no fixed base URL: a custom provider instead
    custom = providers["my-vllm"]
    assert custom["baseUrl"] == f"{GATEWAY}/p/my-vllm"
    assert custom["api"] == "openai-completions" and custom["apiKey"] == "$STARTER_GATEWAY_TOKEN"
    assert [m["id"] for m in custom["models"]] == ["qwen-coder", "llama"]
    assert custom["models"][0]["cost"] == {
        "input": 0.5,
        "output": 1.5,
        "cacheRead": 0.05,
        "cacheWrite": 0.0,
    }
    assert custom["compat"]["supportsDeveloperRole"] is False
    assert "cost" not in providers["unpriced"]["models"][0]  # pi shows no made-up zero
    # Nothing of bob's, no key, no real endpoint of a custom provider.
    assert set(providers) == {"openai", "anthropic", "my-vllm", "unpriced"}
    text = json.dumps(document)
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, CUSTOM_KEY, BOB_KEY, "az-real-key-1"):
        assert secret not in text
    assert "gpu.example.com" not in text and "bob" not in text
    assert schema_problems(document) == []


def test_the_schema_check_can_fail(alice: User) -> None:
    keyed_alice(alice)
    document = pi_models_document(personal_organisation_of(alice))
    document["providers"]["openai"]["apiKey"] = 7  # type: ignore[index]
    assert any("apiKey" in problem for problem in schema_problems(document))


def test_without_keys_or_providers_pi_is_told_of_none(alice: User) -> None:
    assert pi_models_document(personal_organisation_of(alice)) == {"providers": {}}


class Recorder(BaseHTTPRequestHandler):
    """Stands in for the gateway: records each call and refuses it (pi need not succeed)."""

    calls: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.calls.append(
            {
                "path": self.path,
                "authorization": self.headers.get("authorization"),
                "x-api-key": self.headers.get("x-api-key"),
                "session": self.headers.get(GATEWAY_SESSION_HEADER),
                "model": body.get("model"),
            }
        )
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "recorded", "type": "test"}}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/gateway", Recorder.calls
    finally:
        server.shutdown()
        server.server_close()


def run_pi(agent_dir: Path, args: list[str], token: str | None) -> str:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(agent_dir), "STARTER_HOME": str(agent_dir)}
    env["PI_CODING_AGENT_DIR"] = str(agent_dir)
    if token is not None:
        env[GATEWAY_TOKEN_VARIABLE] = token
    result = subprocess.run(
        [str(BIN / "pi"), *args],
        env=env,
        cwd=agent_dir,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return result.stdout + result.stderr


def test_the_real_pi_uses_built_in_and_custom_providers_through_the_gateway(
    alice: User, tmp_path: Path, settings: Any, recorder: tuple[str, list[dict[str, Any]]]
) -> None:
    """pi lists the overridden built-in providers as usable (the token is their key) and
    sends their calls, and a custom provider's, to ``<gateway>/p/<provider>`` with the
    token, never a key, and with the session's id from the starter extension."""
    gateway_url, calls = recorder
    settings.STARTER_GATEWAY_URL = gateway_url
    keyed_alice(alice)
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    (agent_dir / "models.json").write_bytes(
        pi_config.pi_models_bytes(personal_organisation_of(alice))
    )
    token = "sgw_test-token-of-the-project"

    listed = run_pi(agent_dir, ["--list-models"], token)
    providers = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert {"openai", "anthropic", "my-vllm", "unpriced"} <= providers, listed
    # Without the token pi has no key for them: the token is what makes them usable.
    assert "openai" not in run_pi(agent_dir, ["--list-models"], None).split()

    extension = ["--no-extensions", "-e", str(EXTENSION_PATH)]
    for provider, model in (
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-sonnet-4-5"),
        ("my-vllm", "qwen-coder"),
    ):
        run_pi(agent_dir, [*extension, "--provider", provider, "--model", model, "-p", "hi"], token)

    by_model = {call["model"]: call for call in calls}
    assert by_model["gpt-4o-mini"]["path"] == "/gateway/p/openai/responses"
    assert by_model["gpt-4o-mini"]["authorization"] == f"Bearer {token}"
    assert by_model["claude-sonnet-4-5"]["path"].startswith("/gateway/p/anthropic/v1/messages")
    assert by_model["claude-sonnet-4-5"]["x-api-key"] == token
    assert by_model["qwen-coder"]["path"] == "/gateway/p/my-vllm/chat/completions"
    assert by_model["qwen-coder"]["authorization"] == f"Bearer {token}"
    for call in calls:
        assert call["session"], call  # the starter extension's before_provider_headers
        assert OPENAI_KEY not in json.dumps(call) and CUSTOM_KEY not in json.dumps(call)
    assert os.environ.get(GATEWAY_TOKEN_VARIABLE) is None
