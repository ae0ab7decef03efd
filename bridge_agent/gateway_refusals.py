"""A run that ended on the model gateway's refusal becomes a ``gateway_refused`` event.

When the gateway refuses a call (a budget is reached, the loop guard paused the run), pi
gets an error whose text ends with the gateway's marker (``protocol.gateway_marker``) and
ends the run with an assistant message whose ``errorMessage`` holds it. The bridge writes
EVENT_GATEWAY_REFUSED beside that ``message_end`` so the chat can draw a card.

Only pi's own error field is read (never text the model or a tool wrote), and the values
are cut short; the dashboard still treats them as untrusted text.
"""

from __future__ import annotations

from typing import Any

from bridge_agent.protocol import GATEWAY_CARD_CODES, parse_gateway_marker

MAX_MESSAGE = 500
MAX_DETAILS = 8
MAX_KEY = 32
MAX_VALUE = 200


def refusal_of(pi_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """``{"code", "message", "details"}`` when this pi event ends a call the gateway
    refused with a card's code, else None."""
    if pi_type != "message_end":
        return None
    message = data.get("message")
    if not isinstance(message, dict) or message.get("role") != "assistant":
        return None
    if message.get("stopReason") != "error":
        return None
    error = message.get("errorMessage")
    if not isinstance(error, str):
        return None
    parsed = parse_gateway_marker(error)
    if parsed is None:
        return None
    code, text, details = parsed
    if code not in GATEWAY_CARD_CODES:
        return None
    kept = {key[:MAX_KEY]: value[:MAX_VALUE] for key, value in list(details.items())[:MAX_DETAILS]}
    return {"code": code, "message": text[:MAX_MESSAGE], "details": kept}
