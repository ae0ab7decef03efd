"""Whether a call may go out: the budgets, then the loop guard (``budgets``, ``guard``).

The proxy calls ``admit`` after the token is checked and before anything is forwarded; a
``Refusal`` is answered by the gateway itself and the provider never sees the request.
"""

from __future__ import annotations

from typing import Any

from gateway.calls import CallContext, Refusal


async def admit(context: CallContext, body: dict[str, Any] | None) -> Refusal | None:
    """``None`` lets the call go; ``body`` is the request's JSON (None when it is not JSON)."""
    return None
