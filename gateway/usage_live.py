"""Live usage for the project's viewers: after each ledger row, the fresh totals.

The frame carries sums of the ledger (the session's, the project's today and this month),
never a delta, so a page that gets it twice, or after a reconnect, shows the same numbers;
and since only the gateway writes the ledger, nothing printed inside a Sprite can move
them. The call itself rides along for the chat meter: its tokens, its cost and how full
the model's context window was.
"""

from __future__ import annotations

from typing import TypedDict

from accounts.model_catalog import pi_registry
from gateway import usage
from gateway.models import UsageRecord
from projects.broadcast import broadcast_gateway

# A custom provider's models do not say their window; most OpenAI-compatible servers'
# models have at least this much.
CUSTOM_CONTEXT_WINDOW = 128_000


class CallJson(TypedDict):
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    tokens: int
    cost: str | None  # None: "price unknown"
    cost_label: str
    context_tokens: int  # what the model read for this call: input + cache read + write
    context_window: int


def context_window(provider: str, model: str) -> int:
    for option in pi_registry().get(provider, []):
        if option.id == model and option.context_window:
            return option.context_window
    return CUSTOM_CONTEXT_WINDOW


def call_json(record: UsageRecord) -> CallJson:
    cost = record.cost
    context_tokens = record.input_tokens + record.cache_read_tokens + record.cache_write_tokens
    return {
        "provider": record.provider,
        "model": record.model,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cache_read_tokens": record.cache_read_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "tokens": record.total_tokens,
        "cost": None if cost is None else usage.format_exact(cost),
        "cost_label": "price unknown" if cost is None else usage.format_cost(cost),
        "context_tokens": context_tokens,
        "context_window": context_window(record.provider, record.model),
    }


def usage_payload(record: UsageRecord) -> dict[str, object]:
    """The ``{"kind": "usage", …}`` payload after ``record``: fresh sums of the ledger."""
    assert record.user_id is not None, "a row of a deleted account is not published"
    return snapshot(record.user_id, record.project_public_id, record.session_id, record)


def snapshot(
    user_id: int, project_public_id: str, session_id: str, call: UsageRecord | None = None
) -> dict[str, object]:
    """What a chat meter and the top bar show: the project's today and this month, the
    session's totals, and a call (``call``, else the session's latest) for the context bar.
    The workspace reads it on load; ``publish`` sends it after every call."""
    project = usage.project_periods(user_id, project_public_id)
    session = usage.session_totals(user_id, project_public_id, session_id) if session_id else None
    if call is None and session_id:
        call = (
            usage.rows_of(user_id)
            .filter(project_public_id=project_public_id, session_id=session_id)
            .order_by("-created_at", "-id")
            .first()
        )
    return {
        "kind": "usage",
        "project": project_public_id,
        "session_id": session_id,
        "session": session.as_json() if session is not None else None,
        "today": project.today.as_json(),
        "month": project.month.as_json(),
        "call": call_json(call) if call is not None else None,
    }


def publish(record: UsageRecord) -> None:
    """Send the session's and the project's totals after ``record`` was written."""
    if record.user_id is None:
        return  # its person's account is gone: nobody's meters show it
    broadcast_gateway(record.project_public_id, record.user_id, usage_payload(record))
