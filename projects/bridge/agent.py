"""What the workspace asks of a project's agent, on top of `call_bridge`.

Each function validates its input (raising `ProjectError` with a message for people) and
makes the bridge calls; bridge failures surface as `BridgeError` unchanged. The dashboard's
views call these; they are thin on purpose so the REST API can share them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from projects.bridge.client import call_bridge
from projects.errors import ProjectError
from projects.models import Project

SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_MESSAGE_CHARS = 100_000
MAX_TRACE_BYTES = 2 * 1024 * 1024
THINKING_LEVELS = ("off", "minimal", "low", "medium", "high", "xhigh")

SendMode = Literal["prompt", "steer", "follow_up"]
SEND_PATHS: dict[str, str] = {
    "prompt": "/starter/prompt",
    "steer": "/starter/steer",
    "follow_up": "/starter/follow-up",
}


def clean_session_id(session_id: object) -> str | None:
    if session_id is None or session_id == "":
        return None
    # Session ids end up in bridge URLs, so only pi's id alphabet gets through.
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.match(session_id):
        raise ProjectError("That is not a session id; pick a session from the list.")
    return session_id


def history(project: Project, session_id: str | None) -> dict[str, Any]:
    """A session's messages with the event cursor they are consistent with.

    The cursor is read *before* the messages, so every event up to it is already part of
    the messages; the browser subscribes after the cursor and drops the duplicates that
    the short overlap can bring (it recognises messages by role and timestamp).
    """
    params = {"session_id": session_id} if session_id else None
    state = call_bridge(project, "GET", "/starter/state", params=params).body or {}
    messages = call_bridge(project, "GET", "/starter/messages", params=params).body or {}
    return {
        "session_id": messages.get("session_id") or state.get("session_id"),
        "last_event_id": int(state.get("last_event_id") or 0),
        "busy": bool(state.get("busy")),
        "messages": messages.get("messages") or [],
    }


def send_message(project: Project, session_id: str | None, text: str, mode: str) -> str:
    """Prompt, steer or queue a follow-up; returns the session that got it."""
    if mode not in SEND_PATHS:
        raise ProjectError("Choose how to send the message: prompt, steer or follow_up.")
    if not text.strip():
        raise ProjectError("Write a message first.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProjectError(f"A message has at most {MAX_MESSAGE_CHARS:,} characters.")
    body: dict[str, Any] = {"message": text}
    if session_id:
        body["session_id"] = session_id
    answer = call_bridge(project, "POST", SEND_PATHS[mode], json_body=body).body or {}
    return str(answer.get("session_id") or session_id or "")


def abort(project: Project, session_id: str | None) -> None:
    call_bridge(project, "POST", "/starter/abort", json_body=_session_body(session_id))


def list_sessions(project: Project) -> dict[str, Any]:
    body = call_bridge(project, "GET", "/starter/sessions").body or {}
    return {"current": body.get("current"), "sessions": body.get("sessions") or []}


def new_session(project: Project) -> str:
    body = call_bridge(project, "POST", "/starter/sessions/new", json_body={}).body or {}
    return str(body.get("session_id") or "")


def switch_session(project: Project, session_id: str) -> str:
    body = call_bridge(
        project, "POST", "/starter/sessions/switch", json_body={"session_id": session_id}
    ).body
    return str((body or {}).get("session_id") or session_id)


def compact(project: Project, session_id: str | None) -> dict[str, Any]:
    body = call_bridge(
        project, "POST", "/starter/sessions/compact", json_body=_session_body(session_id)
    ).body
    return dict(body or {})


def agent_state(project: Project, session_id: str | None) -> dict[str, Any]:
    params = {"session_id": session_id} if session_id else None
    return dict(call_bridge(project, "GET", "/starter/state", params=params).body or {})


def configure(
    project: Project, session_id: str | None, model: str | None, thinking_level: str | None
) -> dict[str, Any]:
    """Switch the session's model and/or thinking level, effective from its next turn."""
    body: dict[str, Any] = _session_body(session_id)
    if model:
        provider, _, model_id = model.strip().partition("/")
        if not provider or not model_id:
            raise ProjectError("Pick a model as provider/model, e.g. anthropic/claude-sonnet-4-5.")
        body["model"] = f"{provider}/{model_id}"
    if thinking_level:
        if thinking_level not in THINKING_LEVELS:
            raise ProjectError(f"Thinking level must be one of: {', '.join(THINKING_LEVELS)}.")
        body["thinking_level"] = thinking_level
    if "model" not in body and "thinking_level" not in body:
        raise ProjectError("Choose a model or a thinking level to change.")
    return dict(call_bridge(project, "POST", "/starter/config", json_body=body).body or {})


def trace(project: Project, session_id: str) -> tuple[bytes, bool]:
    """The session's raw JSONL (pi's own file); the newest part when it is very large."""
    raw = call_bridge(project, "GET", f"/starter/sessions/{session_id}/trace").raw
    if len(raw) <= MAX_TRACE_BYTES:
        return raw, False
    tail = raw[-MAX_TRACE_BYTES:]
    return tail[tail.find(b"\n") + 1 :], True


def inspect(project: Project) -> dict[str, list[dict[str, Any]]]:
    body = call_bridge(project, "GET", "/starter/inspect").body or {}
    return {table: list(body.get(table) or []) for table in ("services", "integrations", "assets")}


def _session_body(session_id: str | None) -> dict[str, Any]:
    return {"session_id": session_id} if session_id else {}
