"""The gateway's own answers: the one place a ``Refusal`` becomes an HTTP response.

The body is the error shape OpenAI, Anthropic and Google clients all read a message from,
``{"error": {"type": "starter_gateway", "code", "message"}}``; the message starts with
"Starter gateway:" (so a person sees whose "no" it is) and ends with the marker the bridge
reads (``bridge_agent.protocol.gateway_marker``). Refusal texts never carry a key.
"""

from __future__ import annotations

import json

from starlette.types import Send

from bridge_agent.protocol import GATEWAY_ERROR_TYPE, gateway_marker
from gateway.calls import Refusal


def refusal_message(refusal: Refusal) -> str:
    return f"Starter gateway: {refusal.message} " + gateway_marker(refusal.code, refusal.details)


def refusal_body(refusal: Refusal) -> bytes:
    error = {"type": GATEWAY_ERROR_TYPE, "code": refusal.code, "message": refusal_message(refusal)}
    return json.dumps({"error": error}).encode()


async def send_refusal(send: Send, refusal: Refusal) -> None:
    body = refusal_body(refusal)
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def stream_error(api: str, refusal: Refusal) -> bytes:
    """A last Server-Sent Event saying the answer was cut, in the shape the client's SDK
    turns into an error (Anthropic's ``error`` event; an ``error`` object for the others),
    for when the provider broke off after the answer had begun."""
    error = {"type": GATEWAY_ERROR_TYPE, "code": refusal.code, "message": refusal_message(refusal)}
    if api == "anthropic-messages":
        payload = {"type": "error", "error": {**error, "type": "api_error"}}
        return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"


def bad_request(message: str, status: int = 400) -> Refusal:
    return Refusal(status, "bad_request", message)


def upstream_broke_off(provider: str) -> Refusal:
    return Refusal(
        502,
        "upstream_unreachable",
        f"the provider {provider} broke off its answer; try again.",
        {"provider": provider},
    )


def upstream_unreachable(provider: str) -> Refusal:
    return Refusal(
        502,
        "upstream_unreachable",
        f"the provider {provider} could not be reached; try again in a moment.",
        {"provider": provider},
    )
