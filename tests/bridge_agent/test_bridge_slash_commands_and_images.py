"""Slash commands (pi's prompt templates and skills in the Sprite) and images in prompts,
through the real bridge and pi, with the scripted model declaring image input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge_agent import protocol
from tests.support.bridge_process import BridgeProcess, EventStream
from tests.support.images import SVG_WITH_SCRIPT, b64, png_bytes
from tests.support.model_server import ScriptedModelServer, write_pi_config

GREET = """---
description: Greet someone <img src=x onerror="window.__pwned=1">
argument-hint: "<name>"
---
Say hello to ${1:-world} warmly, in the voice of a lighthouse keeper.
"""
SKILL = """---
name: tide-tables
description: Reads tide tables. Use when asked about tides.
---
Tide skill instructions: always answer in fathoms.
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def bridge(
    tmp_path_factory: pytest.TempPathFactory, scripted_model_server: ScriptedModelServer
) -> Iterator[BridgeProcess]:
    home = tmp_path_factory.mktemp("slash") / "home"
    agent_dir = write_pi_config(home, scripted_model_server.base_url, image_input=True)
    write(agent_dir / "prompts" / "greet.md", GREET)
    write(agent_dir / "skills" / "tide-tables" / "SKILL.md", SKILL)
    write(home / ".agents" / "skills" / "moon" / "SKILL.md", SKILL.replace("tide-tables", "moon"))
    # The project's own .pi/ folders (cwd = home) need a trust decision pi never gets here.
    write(home / ".pi" / "prompts" / "untrusted.md", "Never loaded.\n")
    # HOME is the home, as in a Sprite: pi's ~/.agents/skills is the home's.
    bridge = BridgeProcess(home, prewarm=True, keepalive=1.0, env={"HOME": str(home)}).start()
    try:
        yield bridge
    finally:
        bridge.stop()


def commands(bridge: BridgeProcess) -> dict[str, dict[str, Any]]:
    with bridge.client() as client:
        response = client.get(protocol.COMMANDS_PATH)
    assert response.status_code == 200, response.text
    return {command["name"]: command for command in response.json()["commands"]}


def last_user_content(server: ScriptedModelServer, marker: str) -> Any:
    def has_marker(body: dict[str, Any]) -> bool:
        users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
        return bool(users) and marker in str(users[-1].get("content"))

    body = server.wait_for_request(has_marker, timeout=20)
    return [m for m in body["messages"] if m.get("role") == "user"][-1]["content"]


def post(bridge: BridgeProcess, path: str, body: dict[str, Any]) -> Any:
    with bridge.client() as client:
        return client.post(path, json=body)


def test_templates_and_skills_of_the_agent_dir_are_listed_and_the_projects_are_not(
    bridge: BridgeProcess,
) -> None:
    listed = commands(bridge)
    assert listed["greet"]["source"] == "prompt"
    # Passed as pi gives it (the control plane limits it; browsers render it as text).
    assert listed["greet"]["description"].startswith("Greet someone <img src=x")
    assert listed["skill:tide-tables"]["source"] == "skill"
    assert listed["skill:moon"]["source"] == "skill"
    assert "untrusted" not in listed
    assert "starter-reload-resources" not in listed  # the bridge's own, hidden
    assert "starter-branch" not in listed  # the branch switch (bridge_agent/branches.py), too


def test_a_template_written_while_pi_runs_is_listed_next_time_without_a_new_session(
    bridge: BridgeProcess,
) -> None:
    before = commands(bridge)
    assert "later" not in before
    with bridge.client() as client:
        sessions_before = client.get(protocol.SESSIONS_PATH).json()["sessions"]
    write(bridge.home / ".pi" / "agent" / "prompts" / "later.md", "Written later: $@\n")
    assert "later" in commands(bridge)
    with bridge.client() as client:
        assert client.get(protocol.SESSIONS_PATH).json()["sessions"] == sessions_before


def test_a_template_command_reaches_the_model_expanded(
    bridge: BridgeProcess, scripted_model_server: ScriptedModelServer
) -> None:
    with EventStream(bridge) as events:
        sent = post(bridge, protocol.PROMPT_PATH, {"message": "/greet Ahab"})
        assert sent.status_code == 202, sent.text
        content = last_user_content(scripted_model_server, "lighthouse keeper")
        events.wait_type("agent_end", sent.json()["session_id"])
    assert "Say hello to Ahab warmly, in the voice of a lighthouse keeper." in str(content)
    assert "/greet" not in str(content)


def test_a_skill_command_inlines_the_skill_with_the_request(
    bridge: BridgeProcess, scripted_model_server: ScriptedModelServer
) -> None:
    with EventStream(bridge) as events:
        sent = post(bridge, protocol.PROMPT_PATH, {"message": "/skill:tide-tables high water?"})
        assert sent.status_code == 202, sent.text
        content = str(last_user_content(scripted_model_server, "always answer in fathoms"))
        events.wait_type("agent_end", sent.json()["session_id"])
    assert "high water?" in content


def test_an_image_reaches_the_model_as_an_image_part_and_stays_out_of_the_event_log(
    bridge: BridgeProcess, scripted_model_server: ScriptedModelServer
) -> None:
    image = b64(png_bytes(16, 16))
    with EventStream(bridge) as events:
        sent = post(
            bridge,
            protocol.PROMPT_PATH,
            {
                "message": "what colour is this? ref-7731",
                "images": [{"data": image, "mimeType": "image/png"}],
            },
        )
        assert sent.status_code == 202, sent.text
        session_id = sent.json()["session_id"]
        content = last_user_content(scripted_model_server, "ref-7731")
        end = events.wait_type("agent_end", session_id)
        user_end = events.wait_for(
            lambda e: (
                e["type"] == "message_end"
                and e["data"]["message"]["role"] == "user"
                and "ref-7731" in str(e["data"]["message"]["content"])
            )
        )
    urls = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    assert urls == [f"data:image/png;base64,{image}"]
    # The log keeps the image's type and size, not its bytes.
    logged = [p for p in user_end["data"]["message"]["content"] if p["type"] == "image"]
    assert logged == [
        {"type": "image", "mimeType": "image/png", "omitted": True, "bytes": len(png_bytes(16, 16))}
    ]
    assert image not in str(end["data"])
    # pi's messages keep it: a reloaded transcript can show it.
    with bridge.client() as client:
        history = client.get(protocol.MESSAGES_PATH, params={"session_id": session_id}).json()
    kept = [
        part
        for message in history["messages"]
        if message["role"] == "user"
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image"
    ]
    assert kept == [{"type": "image", "data": image, "mimeType": "image/png"}]


@pytest.mark.parametrize(
    ("image", "status", "code"),
    [
        (
            {"data": b64(SVG_WITH_SCRIPT), "mimeType": "image/svg+xml"},
            415,
            "unsupported_media_type",
        ),
        # An SVG that says it is a PNG is refused by its bytes.
        ({"data": b64(SVG_WITH_SCRIPT), "mimeType": "image/png"}, 415, "unsupported_media_type"),
        (
            {
                "data": b64(b"\x89PNG\r\n\x1a\n" + bytes(protocol.MAX_IMAGE_BYTES)),
                "mimeType": "image/png",
            },
            413,
            "too_large",
        ),
        ({"data": "not base64!", "mimeType": "image/png"}, 400, "invalid_field"),
        ({"url": "http://example.com/a.png"}, 400, "invalid_field"),
    ],
)
def test_svg_oversized_and_malformed_images_are_refused_before_pi(
    bridge: BridgeProcess, image: dict[str, str], status: int, code: str
) -> None:
    answer = post(bridge, protocol.PROMPT_PATH, {"message": "look", "images": [image]})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code


def test_more_images_than_the_limit_is_a_413(bridge: BridgeProcess) -> None:
    image = {"data": b64(png_bytes()), "mimeType": "image/png"}
    answer = post(
        bridge,
        protocol.FOLLOW_UP_PATH,
        {"message": "look", "images": [image] * (protocol.MAX_IMAGES + 1)},
    )
    assert answer.status_code == 413
    assert f"at most {protocol.MAX_IMAGES} images" in answer.json()["message"]
