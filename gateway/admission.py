"""Whether a call may go out: the budgets, then the loop guard (``budgets``, ``guard``).

The proxy calls ``admit`` after the token is checked and before anything is forwarded; a
``Refusal`` is answered by the gateway itself and the provider never sees the request.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from gateway import budgets, guard, limits
from gateway.calls import CallContext, Refusal


def admit_now(context: CallContext, body: dict[str, Any] | None) -> Refusal | None:
    """``admit`` for synchronous callers (and the tests)."""
    refusal = budgets.refusal_for(context)
    if refusal is not None:
        return refusal
    settings = limits.guard_settings(context.project_id)
    return guard.check(context.project_public_id, context.session_id, body, settings)


async def admit(context: CallContext, body: dict[str, Any] | None) -> Refusal | None:
    """``None`` lets the call go; ``body`` is the request's JSON (None when it is not JSON)."""
    # One thread hop for the ledger queries and the guard's Redis notes together.
    return await sync_to_async(admit_now, thread_sensitive=False)(context, body)
