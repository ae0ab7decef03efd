"""pi in a real local Sprite reaches a custom provider through the model gateway, holding only
the project's gateway token; the gateway hands the provider its real key.

The control plane writes pi's ``models.json`` with ``"apiKey": "$STARTER_GATEWAY_TOKEN"`` and
``baseUrl`` = ``<gateway>/p/<provider>`` (no secret in the file) and gives the bridge that
variable in its environment (no provider key in it). pi >= 0.77 reads a variable only when
written ``$NAME``; a bare name is sent as the key itself, which the gateway refuses. Here the
documents and the environment are the control plane's own (``pi_models_json``,
``pi_settings_document``, ``sprite_environment``), written into a sandboxed Sprite as
``lifecycle.steps`` does; the live stack serves the gateway, and the scripted model server
demands the real key.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from accounts import user_settings
from accounts.models import User
from bridge_agent.protocol import GATEWAY_TOKEN_PREFIX, GATEWAY_TOKEN_VARIABLE
from organisations import provider_settings
from organisations.personal import personal_organisation_of
from projects.lifecycle import steps
from projects.lifecycle.steps import PI_MODELS_PATH, PI_SETTINGS_PATH
from projects.models import Project, Status
from projects.sprite.backend import configured_backend
from projects.sprite.environment import pi_models_json, pi_settings_document, sprite_environment
from sprites.backends import SpriteBackend, processes, run_sync
from sprites.backends.local import LocalBackend
from starter.env import port_list
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

TOKEN = "custom-provider-bridge-token"
KEY = "sk-gateway-3f2a9c81d7"
PROVIDER = "my-gateway"
VARIABLE = GATEWAY_TOKEN_VARIABLE
# What Sprites held before the gateway: the owner's built-in keys as pi's variables.
OLD_VARIABLE, OLD_KEY = "OPENAI_API_KEY", "sk-openai-before-the-gateway-41d0"

pytestmark = pytest.mark.django_db(transaction=True)  # the live stack reads the rows


@pytest.fixture
def gateway(live_stack: LiveStack, settings: Any) -> LiveStack:
    """Sprites are told the live stack's gateway (this process's settings build their
    documents and environment)."""
    settings.STARTER_GATEWAY_URL = live_stack.gateway_url
    return live_stack


@pytest.fixture
async def gateway_backend(data_dir: Path, gateway: LiveStack) -> AsyncIterator[LocalBackend]:
    """A local backend whose Sprites may reach the gateway's loopback port, as the
    control plane's own backend gives every Sprite (``sprite.environment.loopback_ports``)."""
    ports = [*port_list(os.environ.get("STARTER_SPRITE_LOOPBACK_PORTS", ""))]
    ports.append(int(urlsplit(gateway.gateway_url).port or 0))
    backend = LocalBackend(
        data_dir, start_timeout=20.0, bridge_arguments=["--no-prewarm"], loopback_ports=ports
    )
    yield backend
    for info in await backend.list_sprites():
        await backend.destroy(info.name)
    processes.reap_started()


@pytest.fixture
def keyed_model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(api_key=KEY) as server:
        yield server


@dataclass(frozen=True)
class SpriteDocuments:
    models: bytes
    settings: bytes
    environment: dict[str, str]


@pytest.fixture
def documents(
    alice: User, keyed_model_server: ScriptedModelServer, gateway: LiveStack
) -> SpriteDocuments:
    """What the control plane writes into alice's Sprite and starts its bridge with."""
    provider_settings.save_custom_provider(
        personal_organisation_of(alice),
        alice,
        PROVIDER,
        "openai-completions",
        keyed_model_server.base_url,
        ["gw-model"],
        KEY,
    )
    user_settings.update_defaults(alice, PROVIDER, "gw-model", "off")
    project = Project.objects.create(
        owner=alice, name="Keyed", status=Status.RUNNING, sprite_name="keyed"
    )
    return SpriteDocuments(
        models=pi_models_json(project),
        settings=pi_settings_document(project),
        environment=sprite_environment(project),
    )


def exec_output(backend: SpriteBackend, name: str, command: str) -> str:
    return run_sync(backend.exec(name, command, timeout=20)).stdout.decode()


async def ask(backend: LocalBackend, name: str, message: str) -> dict[str, Any]:
    """Prompt the Sprite's bridge and return the run's ``agent_end`` data."""
    endpoint = await backend.bridge_endpoint(name, TOKEN)
    headers = dict(endpoint.headers)
    async with httpx.AsyncClient(base_url=endpoint.base_url, headers=headers, timeout=60) as client:
        after = (await client.get("/starter/state")).json()["last_event_id"]
        async with client.stream("GET", f"/starter/events?after={after}") as stream:
            answer = await client.post("/starter/prompt", json={"message": message})
            assert answer.status_code == 202, answer.text
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["type"] == "agent_end":
                        return dict(event["data"])
    raise AssertionError("the event stream ended before agent_end")


def last_text(run_end: dict[str, Any]) -> str:
    message = run_end["messages"][-1]
    return "".join(part.get("text", "") for part in message["content"] if part["type"] == "text")


async def test_the_gateway_token_reaches_the_gateway_and_the_key_the_model(
    gateway_backend: LocalBackend,
    documents: SpriteDocuments,
    keyed_model_server: ScriptedModelServer,
    gateway: LiveStack,
) -> None:
    models = json.loads(documents.models)
    assert models["providers"][PROVIDER]["apiKey"] == f"${VARIABLE}"
    assert models["providers"][PROVIDER]["baseUrl"] == f"{gateway.gateway_url}/p/{PROVIDER}"
    assert KEY.encode() not in documents.models + documents.settings  # no secret in a file
    assert KEY not in json.dumps(documents.environment)  # nor in the Sprite's environment
    assert documents.environment[VARIABLE].startswith(GATEWAY_TOKEN_PREFIX)

    await gateway_backend.create("keyed")
    await gateway_backend.write_file("keyed", PI_SETTINGS_PATH, documents.settings)
    await gateway_backend.write_file("keyed", PI_MODELS_PATH, documents.models)
    await gateway_backend.bootstrap("keyed", TOKEN, documents.environment)
    run_end = await ask(gateway_backend, "keyed", "[[reply: the gateway answered]]")
    assert last_text(run_end) == "the gateway answered"
    assert keyed_model_server.requests[-1]["model"] == "gw-model"
    assert keyed_model_server.keys == [KEY]


async def test_a_bare_variable_name_would_reach_the_gateway_as_the_token(
    gateway_backend: LocalBackend,
    documents: SpriteDocuments,
    keyed_model_server: ScriptedModelServer,
) -> None:
    """The document as it was before pi 1.x (``"apiKey": "STARTER_GATEWAY_TOKEN"``): the
    gateway sees the variable's name, refuses it, and the model is never called. The test
    above can fail."""
    models = json.loads(documents.models)
    models["providers"][PROVIDER]["apiKey"] = VARIABLE
    await gateway_backend.create("bare")
    await gateway_backend.write_file("bare", PI_SETTINGS_PATH, documents.settings)
    await gateway_backend.write_file("bare", PI_MODELS_PATH, json.dumps(models).encode())
    await gateway_backend.bootstrap("bare", TOKEN, documents.environment)
    run_end = await ask(gateway_backend, "bare", "[[reply: never answered]]")
    assert run_end["messages"][-1]["stopReason"] == "error"
    assert "401" in run_end["messages"][-1]["errorMessage"]
    assert keyed_model_server.keys == []


def test_an_environment_sync_gives_an_older_sprite_todays_documents(
    alice: User,
    keyed_model_server: ScriptedModelServer,
    data_dir: Path,
    settings: Any,
    gateway: LiveStack,
) -> None:
    """A Sprite made before the gateway (its own key variable in models.json, no
    cache-warming setting) gets pi's documents rewritten and the gateway token handed when
    its environment is synced (saving a key, a secret or a provider does that), and its
    custom provider works again, through the gateway."""
    settings.DATA_DIR = data_dir
    # The owner adds the provider (what the settings page does) before the project row
    # exists, so no sync task is queued for it: a live stack's worker would otherwise run
    # that sync and hold the project's lock while this test runs its own.
    provider_settings.save_custom_provider(
        personal_organisation_of(alice),
        alice,
        PROVIDER,
        "openai-completions",
        keyed_model_server.base_url,
        ["gw-model"],
        KEY,
    )
    user_settings.update_defaults(alice, PROVIDER, "gw-model", "off")
    project = Project.objects.create(
        owner=alice, name="Older", status=Status.RUNNING, sprite_name="older"
    )
    backend = configured_backend()
    old_models = {"providers": {PROVIDER: {"apiKey": "$STARTER_PROVIDER_KEY_X", "models": []}}}
    # The bridge token first: the backend asks the control plane for the Sprite's loopback
    # ports (the gateway's) when it starts the bridge.
    Project.objects.filter(pk=project.pk).update(bridge_token=TOKEN)
    run_sync(backend.create("older"))
    run_sync(backend.write_file("older", PI_MODELS_PATH, json.dumps(old_models).encode()))
    run_sync(backend.write_file("older", PI_SETTINGS_PATH, b"{}"))
    run_sync(backend.bootstrap("older", TOKEN, {OLD_VARIABLE: OLD_KEY}))
    try:
        assert OLD_KEY in exec_output(backend, "older", "printenv")  # the control
        steps.sync_environment(project.pk)

        models = json.loads(run_sync(backend.read_file("older", PI_MODELS_PATH)))
        pi_settings = json.loads(run_sync(backend.read_file("older", PI_SETTINGS_PATH)))
        assert models["providers"][PROVIDER]["apiKey"] == f"${VARIABLE}"
        synced = exec_output(backend, "older", "printenv")
        assert OLD_KEY not in synced and KEY not in synced  # the old key is gone
        assert pi_settings["cacheWarming"] == "off"
        assert pi_settings["defaultModel"] == "gw-model"
        run_end = run_sync(ask(backend, "older", "[[reply: synced]]"))  # type: ignore[arg-type]
        assert last_text(run_end) == "synced", (run_end, backend._log_tail("older", 60))  # type: ignore[attr-defined]
        assert keyed_model_server.keys == [KEY]
    finally:
        run_sync(backend.destroy("older"))
