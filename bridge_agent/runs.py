"""Runs that cannot end by themselves: the ``agent_end`` the bridge writes for them.

A run is one session's events from pi's ``agent_start`` to its ``agent_end``. If the bridge
is killed, or pi dies, in the middle of one, pi never writes the ``agent_end`` and every
client would show the session as working forever. So the bridge ends such a run itself,
exactly once, in pi's own shape (see ``protocol.EVENT_AGENT_END``):

* at start, for every run the log says never ended (the bridge was killed mid-run);
* when pi exits by itself, or is stopped (shutdown), while its session's run is open.

The log is the only record consulted: what it says is open is open, and once the
interrupted ``agent_end`` is stored the run is closed for every later look.
"""

from __future__ import annotations

from typing import Any

from bridge_agent import protocol
from bridge_agent.event_log import Event, EventLog

# pi's last words kept in the event are bounded: the log is not the place for whole files.
MAX_TEXT_CHARS = 20_000

_MESSAGES = {
    "bridge_restarted": "The run was interrupted: the bridge restarted while it was going.",
    "agent_exited": "The run was interrupted: the agent process exited while it was going.",
    "bridge_stopped": "The run was interrupted: the bridge stopped while it was going.",
}


def interrupted_end(run: list[Event], reason: protocol.InterruptReason) -> dict[str, Any]:
    """The ``agent_end`` data for an open run, given its events (``agent_start`` first)."""
    messages: list[Any] = []
    unfinished: dict[str, Any] | None = None
    running: dict[str, dict[str, Any]] = {}
    for event in run:
        data = event.data
        if event.type == "message_start":
            message = data.get("message")
            role = message.get("role") if isinstance(message, dict) else None
            unfinished = {"role": role, "text": "", "thinking": ""}
        elif event.type == "message_update" and unfinished is not None:
            delta = data.get("assistantMessageEvent")
            if isinstance(delta, dict) and isinstance(delta.get("delta"), str):
                if delta.get("type") == "text_delta":
                    unfinished["text"] += delta["delta"]
                elif delta.get("type") == "thinking_delta":
                    unfinished["thinking"] += delta["delta"]
        elif event.type == "message_end":
            unfinished = None
            if "message" in data:
                messages.append(data["message"])
        elif event.type == "tool_start" and isinstance(data.get("toolCallId"), str):
            running[data["toolCallId"]] = {
                key: data[key] for key in ("toolCallId", "toolName", "args") if key in data
            }
        elif event.type == "tool_end":
            running.pop(str(data.get("toolCallId")), None)
    if unfinished is not None:
        unfinished["text"] = unfinished["text"][-MAX_TEXT_CHARS:]
        unfinished["thinking"] = unfinished["thinking"][-MAX_TEXT_CHARS:]
    return {
        "messages": messages,
        "interrupted": True,
        "reason": reason,
        "message": _MESSAGES[reason],
        "last_event_id": run[-1].id if run else None,
        "unfinished_message": unfinished,
        "running_tools": list(running.values()),
    }


def end_open_run(log: EventLog, session_id: str, reason: protocol.InterruptReason) -> Event | None:
    """Append the interrupted ``agent_end`` if ``session_id``'s last run is open."""
    started = log.open_runs().get(session_id)
    if started is None:
        return None
    return _end(log, session_id, started, reason)


def end_open_runs(log: EventLog, reason: protocol.InterruptReason) -> list[Event]:
    """Append the interrupted ``agent_end`` of every open run in the log."""
    return [
        _end(log, session_id, started, reason)
        for session_id, started in sorted(log.open_runs().items(), key=lambda item: item[1])
    ]


def _end(log: EventLog, session_id: str, started: int, reason: protocol.InterruptReason) -> Event:
    data = interrupted_end(log.session_events(session_id, started), reason)
    return log.append(protocol.EVENT_AGENT_END, data, session_id)
