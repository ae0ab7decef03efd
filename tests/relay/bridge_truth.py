"""What the project's bridge itself says, to compare the relay against."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx

from projects.bridge.client import call_bridge, endpoint_for
from projects.models import Project
from projects.relay.wire import connects_key
from projects.sprite.backend import local_backend
from sprites.backends import processes
from starter.redis import redis_client


def bridge_events(project: Project, after: int = 0) -> list[dict[str, Any]]:
    """Every event the bridge keeps after ``after``, straight from its log (replay-only)."""
    endpoint = endpoint_for(project)
    response = httpx.get(
        endpoint.base_url + "/starter/events",
        params={"after": str(after), "replay_only": "1"},
        headers=dict(endpoint.headers),
        timeout=30,
    )
    response.raise_for_status()
    return [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]


def bridge_port(project: Project) -> int:
    return int(endpoint_for(project).base_url.rsplit(":", 1)[1])


def established_connections_to(port: int) -> int:
    """Server-side ESTABLISHED TCP sockets on 127.0.0.1:<port> (the bridge's open streams)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":
                count += 1
    return count


def transcript_from_events(events: list[dict[str, Any]], session_id: str) -> str:
    """The assistant text of a session, rebuilt from the streamed deltas."""
    return "".join(
        e["data"]["assistantMessageEvent"].get("delta", "")
        for e in events
        if e["type"] == "message_update"
        and e["session_id"] == session_id
        and e["data"].get("assistantMessageEvent", {}).get("type") == "text_delta"
    )


def transcript_from_messages(project: Project, session_id: str) -> str:
    messages = call_bridge(
        project, "GET", "/starter/messages", params={"session_id": session_id}
    ).body["messages"]
    return "".join(
        part.get("text", "")
        for message in messages
        if message.get("role") == "assistant"
        for part in message.get("content", [])
        if part.get("type") == "text"
    )


def prompt(project: Project, message: str, session_id: str | None = None) -> str:
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["session_id"] = session_id
    return str(call_bridge(project, "POST", "/starter/prompt", json_body=body).body["session_id"])


def sprite_pid(project: Project) -> int:
    """The host pid at the top of the project's Sprite (its sandbox)."""
    run = local_backend().sprite_dir(project.sprite_name) / "run"
    return int((run / "bridge.pid").read_text())


def bridge_python_pid(project: Project) -> int:
    """The host pid of the project's bridge (below its sandbox and its keeper)."""
    for pid in processes.process_tree(sprite_pid(project)):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "-m bridge_agent " in command and "bwrap" not in command:
            return pid
    raise AssertionError("the project's bridge process was not found")


def upstream_connects(project: Project) -> int:
    """How many upstream streams the relay has opened to the project's bridge."""
    value = redis_client().get(connects_key(project.public_id))
    return int(value) if value else 0


def refuses_connections(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:<port> (the Sprite's whole tree is gone)."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) != 0
