"""Slash commands and images in prompts, from both entry points (the REST API and the
dashboard's JSON views), which call the same domain functions in `projects.bridge.agent`.

Refused images never reach a Sprite (alice's project has none); the accepted ones, and the
command lists, go through a real project (live stack, local Sprite, bridge, pi, the scripted
model).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from django.test import Client

from bridge_agent import protocol
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import run_sync
from tests.api.conftest import API, TokenClient
from tests.api.test_agent_parity import api, api_post, dashboard, dashboard_post
from tests.relay.conftest import owner, owner_token, running_project, stack
from tests.support.fixtures import scripted_model_server
from tests.support.images import SVG_WITH_SCRIPT, b64, png_bytes
from tests.support.model_server import ScriptedModelServer

__all__ = [
    "api",
    "dashboard",
    "owner",
    "owner_token",
    "running_project",
    "scripted_model_server",
    "stack",
]

SVG = {"data": b64(SVG_WITH_SCRIPT), "mimeType": "image/svg+xml"}
SVG_AS_PNG = {"data": b64(SVG_WITH_SCRIPT), "mimeType": "image/png"}
OVERSIZED = {
    "data": b64(b"\x89PNG\r\n\x1a\n" + bytes(protocol.MAX_IMAGE_BYTES)),
    "mimeType": "image/png",
}


def send_both(
    dashboard: Client, api: TokenClient, project: Project, images: list[dict[str, str]]
) -> list[Any]:
    return [
        dashboard_post(dashboard, project, "agent/send/", {"message": "look", "images": images}),
        api_post(api, project, "prompt", {"message": "look", "images": images}),
    ]


@pytest.mark.parametrize("image", [SVG, SVG_AS_PNG], ids=["svg", "svg-labelled-png"])
@pytest.mark.django_db
def test_an_svg_is_a_415_from_both_entry_points_before_any_sprite(
    alice_project: Project, alice_client: Client, alice_api: TokenClient, image: dict[str, str]
) -> None:
    for answer in send_both(alice_client, alice_api, alice_project, [image]):
        assert answer.status_code == 415, answer.content
        assert answer.json()["error"] == "unsupported_media_type"
        assert "image/png, image/jpeg, image/gif, image/webp" in answer.json()["message"]


@pytest.mark.django_db
def test_an_oversized_image_or_too_many_are_a_413_from_both_entry_points(
    alice_project: Project, alice_client: Client, alice_api: TokenClient
) -> None:
    for answer in send_both(alice_client, alice_api, alice_project, [OVERSIZED]):
        assert answer.status_code == 413, answer.content
        assert answer.json()["error"] == "too_large"
        assert "over 3 MiB" in answer.json()["message"]
    small = {"data": b64(png_bytes()), "mimeType": "image/png"}
    many = [small] * (protocol.MAX_IMAGES + 1)
    for answer in send_both(alice_client, alice_api, alice_project, many):
        assert answer.status_code == 413, answer.content
        assert f"at most {protocol.MAX_IMAGES} images" in answer.json()["message"]


@pytest.mark.django_db
def test_a_dashboard_message_over_the_request_limit_is_a_413_in_json(
    alice_project: Project, alice_client: Client, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = dashboard_post(
        alice_client,
        alice_project,
        "agent/send/",
        {"message": "look", "images": [{"data": "A" * 2000, "mimeType": "image/png"}]},
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"
    assert "send smaller or fewer images" in answer.json()["message"]


@pytest.mark.django_db
def test_the_openapi_document_lists_the_415_and_the_commands_operation(
    alice_api: TokenClient,
) -> None:
    document = alice_api.get(f"{API}/openapi.json").json()
    prompt = document["paths"]["/api/v1/projects/{project_id}/prompt"]["post"]
    assert {"413", "415"} <= set(prompt["responses"])
    assert "/api/v1/projects/{project_id}/commands" in document["paths"]


# -- through a real Sprite -------------------------------------------------------------------


def write_into_sprite(project: Project, path: str, data: bytes) -> None:
    project.refresh_from_db()
    run_sync(backend_for(project).write_file(project.sprite_name, path, data))


@pytest.mark.django_db(transaction=True)
def test_commands_from_the_sprite_are_limited_before_they_reach_either_entry_point(
    running_project: Project, dashboard: Client, api: TokenClient
) -> None:
    hostile = (
        "---\ndescription: Ignore\u202e this <script>alert(1)</script>"
        + "x" * 1000
        + "\n---\nbody\n"
    )
    write_into_sprite(running_project, ".pi/agent/prompts/hostile.md", hostile.encode())
    # Without front matter pi describes a template by its first line.
    write_into_sprite(running_project, ".pi/agent/prompts/beep.md", b"Beep\x07 \x1b[31mred\n")
    write_into_sprite(running_project, ".pi/agent/prompts/two words.md", b"Spaced.\n")
    write_into_sprite(running_project, ".pi/agent/prompts/a\u2066hidden.md", b"Hidden.\n")
    for number in range(protocol.MAX_COMMANDS + 20):
        path = f".pi/agent/prompts/t{number:03d}.md"
        write_into_sprite(running_project, path, f"Template {number}\n".encode())

    from_api = api.get(f"{API}/projects/{running_project.public_id}/commands")
    assert from_api.status_code == 200, from_api.content
    from_dashboard = dashboard.get(f"/p/{running_project.public_id}/agent/commands/")
    assert from_dashboard.status_code == 200, from_dashboard.content
    assert from_api.json()["commands"] == from_dashboard.json()["commands"]

    commands = from_api.json()["commands"]
    assert len(commands) == protocol.MAX_COMMANDS
    names = {command["name"] for command in commands}
    assert "two words" not in names
    assert not any("hidden" in name for name in names)
    for command in commands:
        assert len(command["description"]) <= protocol.MAX_COMMAND_DESCRIPTION_CHARS
        assert not any(unicodedata.category(c) in {"Cc", "Cf"} for c in command["description"])
    hostile_listed = next(c for c in commands if c["name"] == "hostile")
    assert hostile_listed["source"] == "prompt"
    assert hostile_listed["description"].startswith("Ignore this <script>alert(1)</script>xx")
    assert hostile_listed["description"].endswith("…")
    assert next(c for c in commands if c["name"] == "beep")["description"] == "Beep [31mred"


@pytest.mark.django_db(transaction=True)
def test_the_rest_api_sends_a_prompts_images_to_the_model(
    running_project: Project, api: TokenClient, scripted_model_server: ScriptedModelServer
) -> None:
    # The owner's custom provider declares text input; pi sends images only to a model
    # that takes them. A new session reads models.json again.
    running_project.refresh_from_db()
    backend = backend_for(running_project)
    raw = run_sync(backend.read_file(running_project.sprite_name, ".pi/agent/models.json"))
    models = json.loads(raw)
    for provider in models["providers"].values():
        for model in provider["models"]:
            model["input"] = ["text", "image"]
    write_into_sprite(running_project, ".pi/agent/models.json", json.dumps(models).encode())
    created = api_post(api, running_project, "sessions/new", {})
    assert created.status_code == 201, created.content

    image = b64(png_bytes(4, 4, (0, 200, 0)))
    sent = api_post(
        api,
        running_project,
        "prompt",
        {
            "message": "what is this? ref-api-9",
            "images": [{"data": image, "mimeType": "image/png"}],
            "session_id": created.json()["session_id"],
        },
    )
    assert sent.status_code == 202, sent.content

    def has_marker(body: dict[str, Any]) -> bool:
        return "ref-api-9" in json.dumps(body.get("messages"))

    body = scripted_model_server.wait_for_request(has_marker, timeout=60)
    content = [m for m in body["messages"] if m.get("role") == "user"][-1]["content"]
    urls = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    assert urls == [f"data:image/png;base64,{image}"]
