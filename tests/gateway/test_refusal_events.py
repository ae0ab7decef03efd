"""The bridge's ``gateway_refused`` event: only from pi's own error field, only card codes,
values cut short; the agent printing the marker (in text or a tool's output) makes none."""

from __future__ import annotations

from typing import Any

from bridge_agent.gateway_refusals import refusal_of
from bridge_agent.protocol import gateway_marker

GUARD_DETAILS = {"rule": "repeat", "tool": "bash", "count": "5", "limit": "5", "args": "{}"}


def error_end(error: str, role: str = "assistant", stop: str = "error") -> dict[str, Any]:
    return {"message": {"role": role, "stopReason": stop, "errorMessage": error, "content": []}}


def test_a_refused_call_becomes_the_cards_event() -> None:
    text = "409 Starter gateway: the loop guard paused this run. " + gateway_marker(
        "loop_guard", GUARD_DETAILS
    )
    refused = refusal_of("message_end", error_end(text))
    assert refused == {
        "code": "loop_guard",
        "message": "409 Starter gateway: the loop guard paused this run.",
        "details": GUARD_DETAILS,
    }


def test_the_agent_printing_the_marker_makes_no_event() -> None:
    marker = gateway_marker("budget_reached", {"scope": "project", "spent": "9", "limit": "1"})
    said = {
        "message": {
            "role": "assistant",
            "stopReason": "stop",
            "content": [{"type": "text", "text": marker}],
        }
    }
    assert refusal_of("message_end", said) is None
    tool_output = {"message": {"role": "toolResult", "content": [{"type": "text", "text": marker}]}}
    assert refusal_of("message_end", tool_output) is None
    assert refusal_of("tool_end", {"text": marker}) is None
    assert refusal_of("message_end", error_end(marker, stop="stop")) is None
    assert refusal_of("message_end", error_end(marker, role="user")) is None


def test_unknown_codes_and_broken_markers_make_none() -> None:
    assert refusal_of("message_end", error_end(gateway_marker("token_invalid", {}))) is None
    assert refusal_of("message_end", error_end("[starter-gateway code=loop_guard")) is None
    assert refusal_of("message_end", error_end("plain provider error 500")) is None
    assert refusal_of("message_end", {"message": "not a dict"}) is None


def test_values_are_cut_short() -> None:
    details = {f"k{n}": "x" * 1000 for n in range(20)}
    refused = refusal_of(
        "message_end", error_end("y" * 2000 + gateway_marker("loop_guard", details))
    )
    assert refused is not None
    assert len(refused["message"]) == 500
    assert len(refused["details"]) == 8
    assert all(len(value) == 200 for value in refused["details"].values())
