"""The one set of agent commands, used by the dashboard's JSON views and the REST API alike.

Each function validates its input with the limits of `bridge_agent.protocol` (raising
`ProjectError` with a message for people), makes the bridge calls through `call_bridge`
(which wakes a sleeping Sprite), and returns plain values; bridge failures surface as
`BridgeError` unchanged. The entry points only find the project, rate-limit where they do,
and shape the answer (Zulip's `views/` → `actions/` split).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict, cast

import httpx

from bridge_agent import protocol
from bridge_agent.images import ImageRefused, checked_image, checked_images, omit_image_data
from bridge_agent.protocol import (
    COMMAND_SOURCES,
    MAX_COMMAND_DESCRIPTION_CHARS,
    MAX_COMMAND_NAME_CHARS,
    MAX_COMMANDS,
    MAX_MESSAGE_CHARS,
    MAX_SESSION_NAME_CHARS,
    MAX_TRACE_BYTES,
    PROMPT_DISPOSITIONS,
    SEND_BEHAVIOURS,
    THINKING_LEVELS,
    PromptDisposition,
    SendBehaviour,
)
from bridge_agent.session_names import clean_session_name
from gateway import budgets
from projects import prompt_authors
from projects.bridge.client import call_bridge
from projects.broadcast import broadcast_prompt_author
from projects.errors import ProjectError
from projects.models import Project

SESSION_ID = re.compile(protocol.SESSION_ID_PATTERN)
# Control characters, and the invisible ones that reorder or hide text (a command list
# comes from files in the Sprite and must read as it is).
_UNSEEN = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
CONTROL_CHARACTERS = re.compile(f"[{_UNSEEN}]")
# A slash command is typed as `/name args`: a name is one word of visible characters.
COMMAND_NAME = re.compile(rf"[^\s/{_UNSEEN}]{{1,{MAX_COMMAND_NAME_CHARS}}}")
# Compaction asks the model to summarise the whole conversation. The control plane waits a
# little longer than the bridge waits for pi, so a slow compaction ends with the bridge's
# own answer (a 503 that says so) rather than a bare timeout here.
COMPACT_TIMEOUT = httpx.Timeout(
    protocol.COMPACT_TIMEOUT + protocol.COMPACT_CLIENT_MARGIN, connect=5.0
)


def clean_session_id(session_id: object) -> str | None:
    """A session id from untrusted input; empty means "the current session"."""
    if session_id is None or session_id == "":
        return None
    # Session ids end up in bridge URLs, so only pi's id alphabet gets through.
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise ProjectError("That is not a session id; pick a session from the list.")
    return session_id


def clean_message(text: str) -> str:
    if not text.strip():
        raise ProjectError("Write a message first.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProjectError(f"A message has at most {MAX_MESSAGE_CHARS:,} characters.")
    return text


def clean_images(images: object) -> list[dict[str, str]] | None:
    """A prompt's images from untrusted input, in pi's shape (`bridge_agent.images`: raster
    types only, checked by their bytes; 413 too large, 415 a wrong type, 400 malformed)."""
    if images is None or images == []:
        return None
    try:
        return checked_images(images)
    except ImageRefused as refused:
        raise ProjectError(refused.message, code=refused.code, status=refused.status) from refused


class Sent(TypedDict):
    session_id: str
    disposition: PromptDisposition


def clean_name(name: object) -> str:
    """A session name from a person: one line of text (see `clean_session_name`)."""
    if not isinstance(name, str):
        raise ProjectError("A session name is text.")
    if len(name.strip()) > MAX_SESSION_NAME_CHARS:
        raise ProjectError(f"A session name has at most {MAX_SESSION_NAME_CHARS} characters.")
    cleaned = clean_session_name(name)
    if not cleaned:
        raise ProjectError("Give the session a name with some visible text.")
    return cleaned


def send_message(
    project: Project,
    session_id: str | None,
    text: str,
    mode: str,
    images: object = None,
) -> str:
    """Prompt, steer or queue a follow-up (`protocol.SEND_BEHAVIOURS`), with images if any;
    returns the session that got it. A plain prompt to a busy session is the bridge's 409."""
    return send(project, session_id, text, mode, images)["session_id"]


def send(
    project: Project,
    session_id: str | None,
    text: str,
    mode: str,
    images: object = None,
    author: object | None = None,
) -> Sent:
    """`send_message`, answering `{"session_id", "disposition"}`: what pi did with it
    (`started` a run, `queued` it behind the running one, or `handled` it without a run).
    `author` (the person who sent it) is recorded for the transcript (prompt_authors)."""
    if mode not in SEND_BEHAVIOURS:
        raise ProjectError("Choose how to send the message: prompt, steer or follow_up.")
    route = SEND_BEHAVIOURS[cast(SendBehaviour, mode)]
    body: dict[str, Any] = {"message": clean_message(text)}
    # A reached budget refuses new messages here, for every entry point (402).
    budgets.ensure_can_prompt(project)
    checked = clean_images(images)
    if checked:
        body["images"] = checked
    if session_id:
        body["session_id"] = session_id
    answer = call_bridge(project, "POST", route.path, json_body=body).body or {}
    disposition = answer.get("disposition")
    sent_to = str(answer.get("session_id") or session_id or "")
    if author is not None:
        prompt_authors.record(project, sent_to, body["message"], author)
        if sent_to:
            broadcast_prompt_author(
                project.public_id, sent_to, body["message"], str(getattr(author, "email", ""))
            )
    return Sent(
        session_id=sent_to,
        # The bridge is in the Sprite: only pi's three words pass.
        disposition=cast(
            PromptDisposition, disposition if disposition in PROMPT_DISPOSITIONS else "started"
        ),
    )


def clear_queue(project: Project, session_id: str | None) -> dict[str, Any]:
    """Take back the steer and follow-up messages still waiting in the session's queue.

    Answers `{"session_id", "steering", "follow_up"}` (the texts, oldest first); they will not
    be sent, so a client puts them back in its composer.
    """
    answer = (
        call_bridge(
            project, "POST", protocol.QUEUE_CLEAR_PATH, json_body=_session_body(session_id)
        ).body
        or {}
    )
    return {
        "session_id": str(answer.get("session_id") or session_id or ""),
        "steering": _strings(answer.get("steering")),
        "follow_up": _strings(answer.get("followUp")),
    }


def abort(project: Project, session_id: str | None) -> str:
    """Stop the session's run; returns the session that was aborted."""
    body = call_bridge(
        project, "POST", protocol.ABORT_PATH, json_body=_session_body(session_id)
    ).body
    return str((body or {}).get("session_id") or session_id or "")


def agent_state(project: Project, session_id: str | None) -> dict[str, Any]:
    """Model, thinking level (and the levels its model takes), busy, queue, name, app port
    and the event cursor (the bridge's document)."""
    params = _session_params(session_id)
    state = dict(call_bridge(project, "GET", protocol.STATE_PATH, params=params).body or {})
    return _clean_state(state)


def _clean_state(state: dict[str, Any]) -> dict[str, Any]:
    """The fields of a state document that people see, reduced to what they may hold."""
    if "thinking_levels" in state:
        levels = state["thinking_levels"]
        listed = levels if isinstance(levels, list) else []
        state["thinking_levels"] = [level for level in listed if level in THINKING_LEVELS]
    if "session_name" in state:
        state["session_name"] = clean_session_name(state["session_name"]) or None
    if "queue" in state:
        queue = state["queue"] if isinstance(state["queue"], dict) else {}
        state["queue"] = {
            "steering": _strings(queue.get("steering")),
            "followUp": _strings(queue.get("followUp")),
        }
    return state


def messages(project: Project, session_id: str | None) -> dict[str, Any]:
    """`{"session_id", "messages"}`; for a cursor to follow on from, use `history`.

    Image parts of user messages keep their bytes only when they pass the prompt's own
    check (an image from the Sprite is untrusted); every other image part loses them."""
    params = _session_params(session_id)
    answer = dict(call_bridge(project, "GET", protocol.MESSAGES_PATH, params=params).body or {})
    if isinstance(answer.get("messages"), list):
        listed = [_with_safe_images(message) for message in answer["messages"]]
        sent_to = answer.get("session_id") or session_id
        answer["messages"] = prompt_authors.attribute(
            project, sent_to if isinstance(sent_to, str) else None, listed
        )
    return answer


def _with_safe_images(message: Any) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    user = message.get("role") == "user"
    content = []
    for part in message["content"]:
        if isinstance(part, dict) and part.get("type") == "image":
            try:
                part = checked_image(part) if user else omit_image_data(part)
            except ImageRefused:
                part = {"type": "image", "omitted": True}
        content.append(part)
    return {**message, "content": content}


def slash_commands(project: Project, session_id: str | None) -> dict[str, Any]:
    """`{"session_id", "commands": [{"name", "description", "source"}]}`: the prompt
    templates, skills and extension commands pi offers in the session, to be sent as
    `/name args` (pi expands them). They come from files in the Sprite: at most
    `MAX_COMMANDS`, names without spaces or control characters, descriptions cut short."""
    params = _session_params(session_id)
    body = call_bridge(project, "GET", protocol.COMMANDS_PATH, params=params).body or {}
    listed: list[dict[str, str]] = []
    seen: set[str] = set()
    raw = body.get("commands")
    for command in raw if isinstance(raw, list) else []:
        if len(listed) >= MAX_COMMANDS:
            break
        if not isinstance(command, dict):
            continue
        name, source = command.get("name"), command.get("source")
        if not isinstance(name, str) or not COMMAND_NAME.fullmatch(name) or name in seen:
            continue
        if source not in COMMAND_SOURCES:
            continue
        seen.add(name)
        description = command.get("description")
        listed.append(
            {
                "name": name,
                "description": _one_line(description if isinstance(description, str) else ""),
                "source": str(source),
            }
        )
    return {"session_id": body.get("session_id") or session_id, "commands": listed}


def _one_line(text: str) -> str:
    flat = " ".join(CONTROL_CHARACTERS.sub(" ", text).split())
    if len(flat) <= MAX_COMMAND_DESCRIPTION_CHARS:
        return flat
    return flat[: MAX_COMMAND_DESCRIPTION_CHARS - 1].rstrip() + "…"


def history(project: Project, session_id: str | None) -> dict[str, Any]:
    """A session's messages with the event cursor they are consistent with.

    The cursor is read *before* the messages, so every event up to it is already part of
    the messages; a reader subscribes after the cursor and drops the duplicates that the
    short overlap can bring (the browser recognises messages by role and timestamp).
    """
    state = agent_state(project, session_id)
    listed = messages(project, session_id)
    return {
        "session_id": listed.get("session_id") or state.get("session_id"),
        "last_event_id": int(state.get("last_event_id") or 0),
        "busy": bool(state.get("busy")),
        "retrying": bool(state.get("retrying")),
        "queue": state.get("queue") or {"steering": [], "followUp": []},
        "messages": listed.get("messages") or [],
    }


def configure(
    project: Project,
    session_id: str | None,
    model: str | None,
    thinking_level: str | None,
    app_port: int | None = None,
) -> dict[str, Any]:
    """Switch the session's model and/or thinking level (from its next turn), and/or the port
    the preview proxies to; answers the bridge's state document."""
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
    if app_port is not None:
        body["app_port"] = app_port
    if not body.keys() & {"model", "thinking_level", "app_port"}:
        raise ProjectError("Choose a model or a thinking level (or an app port) to change.")
    state = dict(call_bridge(project, "POST", protocol.CONFIG_PATH, json_body=body).body or {})
    return _clean_state(state)


def list_sessions(project: Project) -> dict[str, Any]:
    """The sessions, newest activity first; names are cleaned (they come from the Sprite)."""
    body = call_bridge(project, "GET", protocol.SESSIONS_PATH).body or {}
    sessions = [
        {**session, "name": clean_session_name(session.get("name")) or None}
        for session in body.get("sessions") or []
        if isinstance(session, dict)
    ]
    return {"current": body.get("current"), "sessions": sessions}


def new_session(project: Project, name: str | None = None) -> str:
    """Start a session (and make it current), named `name` if given; returns its id."""
    request: dict[str, Any] = {"name": clean_name(name)} if name is not None else {}
    body = call_bridge(project, "POST", protocol.SESSIONS_NEW_PATH, json_body=request).body or {}
    return str(body.get("session_id") or "")


def rename_session(project: Project, session_id: str | None, name: str) -> dict[str, Any]:
    """Give a session a display name; answers `{"session_id", "name"}` as stored."""
    body = _session_body(session_id)
    body["name"] = clean_name(name)
    answer = call_bridge(project, "POST", protocol.SESSIONS_RENAME_PATH, json_body=body).body
    answer = answer or {}
    return {
        "session_id": str(answer.get("session_id") or session_id or ""),
        "name": clean_session_name(answer.get("name")) or body["name"],
    }


def delete_session(project: Project, session_id: object) -> dict[str, Any]:
    """Archive a session: it leaves every list, and its trace moves to the Sprite's archive
    folder (`protocol.ARCHIVED_SESSIONS_FOLDER`), never lost. A session running a prompt is
    the bridge's 409; the current one hands over to the most recent other session.
    Answers `{"session_id", "archived_as", "current"}`."""
    clean = clean_session_id(session_id)
    if clean is None:
        raise ProjectError("Choose the session to delete.")
    answer = call_bridge(project, "DELETE", protocol.session_path(clean)).body or {}
    archived_as, current = answer.get("archived_as"), answer.get("current")
    return {
        "session_id": clean,
        # File names and ids come from the Sprite: only plain strings of them pass.
        "archived_as": archived_as if isinstance(archived_as, str) else None,
        "current": current if isinstance(current, str) and SESSION_ID.match(current) else None,
    }


ARCHIVED_FILE = re.compile(protocol.ARCHIVED_FILE_PATTERN)


def restore_session(project: Project, archived_file: object) -> dict[str, Any]:
    """Bring an archived session back to every list (`archived_sessions` names the files).
    The bridge answers 404 for a file not archived and 409 when that session (or its file's
    name) is there again. Answers `{"session_id", "restored_as", "current"}`."""
    if not isinstance(archived_file, str) or not ARCHIVED_FILE.match(archived_file):
        raise ProjectError("Choose an archived session to restore.")
    answer = (
        call_bridge(
            project, "POST", protocol.SESSIONS_RESTORE_PATH, json_body={"file": archived_file}
        ).body
        or {}
    )
    session_id, restored_as, current = (
        answer.get("session_id"),
        answer.get("restored_as"),
        answer.get("current"),
    )
    return {
        # Ids and file names come from the Sprite: only plain strings of them pass.
        "session_id": session_id
        if isinstance(session_id, str) and SESSION_ID.match(session_id)
        else None,
        "restored_as": _one_line(restored_as) if isinstance(restored_as, str) else None,
        "current": current if isinstance(current, str) and SESSION_ID.match(current) else None,
    }


def archived_sessions(project: Project) -> list[dict[str, Any]]:
    """The archived sessions, newest first (read-only): `{"file", "id", "name", "created",
    "archived_at", "message_count", "size"}`, reduced to what each field may hold."""
    body = call_bridge(project, "GET", protocol.SESSIONS_ARCHIVED_PATH).body or {}
    listed = body.get("archived")
    archived: list[dict[str, Any]] = []
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            continue
        archived.append(
            {
                "file": _one_line(entry["file"]),
                "id": str(entry.get("id") or ""),
                "name": clean_session_name(entry.get("name")) or None,
                "created": _text_or_none(entry.get("created")),
                "archived_at": _text_or_none(entry.get("archived_at")),
                "message_count": _count(entry.get("message_count")),
                "size": _count(entry.get("size")),
            }
        )
    return archived


def _text_or_none(value: Any) -> str | None:
    return _one_line(value) if isinstance(value, str) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def switch_session(project: Project, session_id: str | None) -> str:
    if session_id is None:
        raise ProjectError("Choose the session to switch to.")
    body = call_bridge(
        project, "POST", protocol.SESSIONS_SWITCH_PATH, json_body={"session_id": session_id}
    ).body
    return str((body or {}).get("session_id") or session_id)


def compact(
    project: Project, session_id: str | None, instructions: str | None = None
) -> dict[str, Any]:
    """Replace older messages with a model-written summary; waits `COMPACT_TIMEOUT`."""
    body = _session_body(session_id)
    if instructions:
        body["instructions"] = instructions
    answer = call_bridge(
        project,
        "POST",
        protocol.SESSIONS_COMPACT_PATH,
        json_body=body,
        timeout=COMPACT_TIMEOUT,
    ).body
    return dict(answer or {})


def trace(
    project: Project, session_id: str, *, max_bytes: int | None = MAX_TRACE_BYTES
) -> tuple[bytes, bool]:
    """The session's raw JSONL (pi's own file) and whether it was cut.

    With `max_bytes` (the dashboard's viewer) a very large trace is cut to its newest whole
    lines; with None (the REST API, the audit trail) it comes whole.
    """
    clean = clean_session_id(session_id)
    if clean is None:
        raise ProjectError("Choose the session whose trace to read.")
    raw = call_bridge(project, "GET", protocol.session_trace_path(clean)).raw
    if max_bytes is None or len(raw) <= max_bytes:
        return raw, False
    tail = raw[-max_bytes:]
    return tail[tail.find(b"\n") + 1 :], True


def inspect(project: Project) -> dict[str, list[dict[str, Any]]]:
    """What the agent recorded in inspect.db: services, integrations, assets."""
    body = call_bridge(project, "GET", protocol.INSPECT_PATH).body or {}
    return {table: list(body.get(table) or []) for table in ("services", "integrations", "assets")}


def _session_body(session_id: str | None) -> dict[str, Any]:
    return {"session_id": session_id} if session_id else {}


def _session_params(session_id: str | None) -> dict[str, str] | None:
    return {"session_id": session_id} if session_id else None


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
