"""Turn pi's RPC event lines into the bridge's event types and payloads.

pi 1.6 facts this relies on (see the reference notes): ``tool_execution_*`` are renamed to
``tool_*``; ``message_update`` carries only the delta (pi before 0.84 also repeated the whole
partial message as ``message`` and ``assistantMessageEvent.partial``: dropped if present);
the first run of a session (and any run after the prompt or the tools change) records a
``role: "system"`` message holding pi's prompt sections, which is not part of the chat and is
dropped here and from ``agent_end.messages``; the starter extension talks to the bridge
through ``setStatus`` UI requests under one status key. Image parts (a prompt's images, an
image file the agent read) lose their bytes here: see ``images.omit_image_data``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bridge_agent.images import omit_image_data
from bridge_agent.session_names import clean_session_name

# The starter extension calls ``ctx.ui.setStatus(EXTENSION_STATUS_KEY, JSON)``; in RPC mode
# that is a fire-and-forget stdout line, so it needs no network and cannot block pi.
EXTENSION_STATUS_KEY = "starter-bridge"
EXTENSION_EVENT_TYPES = frozenset({"notify", "app_port", "secret_requested"})

RENAMED = {
    "tool_execution_start": "tool_start",
    "tool_execution_update": "tool_update",
    "tool_execution_end": "tool_end",
}

SYSTEM_MESSAGE_EVENTS = frozenset({"message_start", "message_update", "message_end"})

# Fire-and-forget UI calls that only make sense in pi's terminal UI.
IGNORED_UI_METHODS = frozenset({"setStatus", "setWidget", "setTitle", "set_editor_text"})
DIALOG_UI_METHODS = frozenset({"select", "confirm", "input", "editor"})


@dataclass(frozen=True, slots=True)
class BridgeEvent:
    type: str
    data: dict[str, Any]


def result_text(result: Any) -> str:
    """The text parts of a tool result (``{"content": [{"type": "text", "text": …}]}``)."""
    if not isinstance(result, dict):
        return ""
    content = result.get("content")
    if not isinstance(content, list):
        return ""
    return "".join(
        part.get("text", "")
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


def is_system_message(message: Any) -> bool:
    """pi's record of its system prompt: not said by anyone in the chat, never shown."""
    return isinstance(message, dict) and message.get("role") == "system"


def chat_messages(messages: Any) -> list[Any]:
    """``messages`` without pi's system records (``get_messages``, ``agent_end``)."""
    if not isinstance(messages, list):
        return []
    return [message for message in messages if not is_system_message(message)]


def translate_pi_event(line: dict[str, Any]) -> BridgeEvent | None:
    """Map one pi stdout event (not a response) to a bridge event, or ``None`` to drop it."""
    pi_type = str(line.get("type", ""))
    data = {key: value for key, value in line.items() if key != "type"}
    if pi_type in SYSTEM_MESSAGE_EVENTS and is_system_message(data.get("message")):
        return None
    if pi_type != "message_update":
        # Image bytes stay in pi's messages; the log keeps only their type and size.
        data = omit_image_data(data)
    if pi_type == "agent_end" and "messages" in data:
        data["messages"] = chat_messages(data["messages"])
    if pi_type == "message_update":
        data.pop("message", None)
        assistant_event = data.get("assistantMessageEvent")
        if isinstance(assistant_event, dict):
            data["assistantMessageEvent"] = {
                key: value for key, value in assistant_event.items() if key != "partial"
            }
        return BridgeEvent("message_update", data)
    if pi_type == "tool_execution_end":
        data["text"] = result_text(data.get("result"))
        return BridgeEvent("tool_end", data)
    if pi_type in RENAMED:
        return BridgeEvent(RENAMED[pi_type], data)
    if pi_type == "extension_ui_request":
        return _translate_ui_request(data)
    if pi_type == "extension_error":
        return BridgeEvent("error", {"source": "extension", **data})
    if pi_type == "session_info_changed":
        # A name is free text from the Sprite: clients get it as one short line.
        return BridgeEvent(pi_type, {"name": clean_session_name(data.get("name")) or None})
    return BridgeEvent(pi_type, data)


def _translate_ui_request(data: dict[str, Any]) -> BridgeEvent | None:
    method = data.get("method")
    if method == "setStatus" and data.get("statusKey") == EXTENSION_STATUS_KEY:
        return _extension_message(data.get("statusText"))
    if method == "notify":
        return BridgeEvent(
            "notify",
            {"message": data.get("message", ""), "level": data.get("notifyType") or "info"},
        )
    return None


def _extension_message(text: Any) -> BridgeEvent | None:
    if not isinstance(text, str):
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    event_type = payload.pop("type", None)
    if event_type not in EXTENSION_EVENT_TYPES:
        return None
    return BridgeEvent(str(event_type), payload)
