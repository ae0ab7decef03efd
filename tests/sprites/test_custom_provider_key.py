"""A custom provider's key reaches the model as its value, through a real local Sprite.

The control plane writes pi's ``models.json`` with ``"apiKey": "$STARTER_PROVIDER_KEY_…"``
(no secret in the file) and gives the bridge that variable in its environment. pi >= 0.77
reads a variable only when written ``$NAME``; a bare name is sent as the key itself, which a
provider refuses. Here the documents and the environment are the control plane's own
(``pi_models_json``, ``pi_settings_document``, ``sprite_environment``), written into a
sandboxed Sprite as ``lifecycle.steps`` does, and the scripted model server demands the key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from accounts import user_settings
from accounts.models import User
from projects.lifecycle import steps
from projects.lifecycle.steps import PI_MODELS_PATH, PI_SETTINGS_PATH
from projects.models import Project, Status
from projects.sprite.backend import configured_backend
from projects.sprite.environment import pi_models_json, pi_settings_document, sprite_environment
from sprites.backends import run_sync
from sprites.backends.local import LocalBackend
from tests.support.model_server import ScriptedModelServer

TOKEN = "custom-provider-bridge-token"
KEY = "sk-gateway-3f2a9c81d7"
PROVIDER = "my-gateway"
VARIABLE = "STARTER_PROVIDER_KEY_MY_GATEWAY"


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
def documents(alice: User, keyed_model_server: ScriptedModelServer) -> SpriteDocuments:
    """What the control plane writes into alice's Sprite and starts its bridge with."""
    user_settings.save_custom_provider(
        alice, PROVIDER, "openai-completions", keyed_model_server.base_url, ["gw-model"], KEY
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


async def test_a_custom_providers_key_reaches_the_model_as_its_value(
    local_backend: LocalBackend,
    documents: SpriteDocuments,
    keyed_model_server: ScriptedModelServer,
) -> None:
    models = json.loads(documents.models)
    assert models["providers"][PROVIDER]["apiKey"] == f"${VARIABLE}"
    assert KEY.encode() not in documents.models + documents.settings  # no secret in a file
    assert documents.environment[VARIABLE] == KEY

    await local_backend.create("keyed")
    await local_backend.write_file("keyed", PI_SETTINGS_PATH, documents.settings)
    await local_backend.write_file("keyed", PI_MODELS_PATH, documents.models)
    await local_backend.bootstrap("keyed", TOKEN, documents.environment)
    run_end = await ask(local_backend, "keyed", "[[reply: the gateway answered]]")
    assert last_text(run_end) == "the gateway answered"
    assert keyed_model_server.requests[-1]["model"] == "gw-model"
    assert keyed_model_server.keys == [KEY]


async def test_a_bare_variable_name_would_reach_the_model_as_the_key(
    local_backend: LocalBackend,
    documents: SpriteDocuments,
    keyed_model_server: ScriptedModelServer,
) -> None:
    """The document as it was before pi 1.x (``"apiKey": "STARTER_PROVIDER_KEY_…"``): the
    model server sees the variable's name and refuses it. The test above can fail."""
    models = json.loads(documents.models)
    models["providers"][PROVIDER]["apiKey"] = VARIABLE
    await local_backend.create("bare")
    await local_backend.write_file("bare", PI_SETTINGS_PATH, documents.settings)
    await local_backend.write_file("bare", PI_MODELS_PATH, json.dumps(models).encode())
    await local_backend.bootstrap("bare", TOKEN, documents.environment)
    run_end = await ask(local_backend, "bare", "[[reply: never answered]]")
    assert run_end["messages"][-1]["stopReason"] == "error"
    assert keyed_model_server.keys and set(keyed_model_server.keys) == {VARIABLE}


@pytest.mark.django_db(transaction=True)
def test_an_environment_sync_gives_an_older_sprite_todays_documents(
    alice: User, keyed_model_server: ScriptedModelServer, data_dir: Path, settings: Any
) -> None:
    """A Sprite made before the upgrade (a bare-name key, no cache-warming setting, no
    provider) gets pi's documents rewritten when its environment is synced (saving a key, a
    secret or a provider does that), and its custom provider works again."""
    settings.DATA_DIR = data_dir
    # The owner adds the provider (what the settings page does) before the project row
    # exists, so no sync task is queued for it: a live stack's worker would otherwise run
    # that sync and hold the project's lock while this test runs its own.
    user_settings.save_custom_provider(
        alice, PROVIDER, "openai-completions", keyed_model_server.base_url, ["gw-model"], KEY
    )
    user_settings.update_defaults(alice, PROVIDER, "gw-model", "off")
    project = Project.objects.create(
        owner=alice, name="Older", status=Status.RUNNING, sprite_name="older"
    )
    backend = configured_backend()
    old_models = {"providers": {PROVIDER: {"apiKey": VARIABLE, "models": []}}}
    run_sync(backend.create("older"))
    run_sync(backend.write_file("older", PI_MODELS_PATH, json.dumps(old_models).encode()))
    run_sync(backend.write_file("older", PI_SETTINGS_PATH, b"{}"))
    run_sync(backend.bootstrap("older", TOKEN, {}))
    Project.objects.filter(pk=project.pk).update(bridge_token=TOKEN)
    try:
        steps.sync_environment(project.pk)

        models = json.loads(run_sync(backend.read_file("older", PI_MODELS_PATH)))
        pi_settings = json.loads(run_sync(backend.read_file("older", PI_SETTINGS_PATH)))
        assert models["providers"][PROVIDER]["apiKey"] == f"${VARIABLE}"
        assert pi_settings["cacheWarming"] == "off"
        assert pi_settings["defaultModel"] == "gw-model"
        run_end = run_sync(ask(backend, "older", "[[reply: synced]]"))  # type: ignore[arg-type]
        assert last_text(run_end) == "synced", (run_end, backend._log_tail("older", 60))  # type: ignore[attr-defined]
        assert keyed_model_server.keys == [KEY]
    finally:
        run_sync(backend.destroy("older"))
