"""The shapes the gateway's rooms pass each other (no Django, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

# The wire shapes pi speaks, as named in pi's model table (``api``). Every other value is
# treated like "openai-completions" (the OpenAI-compatible family).
ApiKind = Literal[
    "openai-completions",
    "openai-responses",
    "anthropic-messages",
    "google-generative-ai",
    "azure-openai-responses",
]


@dataclass(frozen=True)
class Upstream:
    """Where a provider really is and how it takes its key."""

    provider: str
    api: str
    base_url: str  # what pi would have used as ``baseUrl`` (no trailing slash)
    key: str  # the owner's real key: never logged, never sent to a Sprite
    custom: bool = False


@dataclass(frozen=True)
class CallContext:
    """Who is calling: resolved from the gateway token, before the request is forwarded."""

    project_id: int
    project_public_id: str
    project_name: str
    user_id: int  # who created the project
    organisation_id: int  # whose keys, budget and ledger the call is
    organisation_public_id: str
    organisation_name: str
    provider: str
    session_id: str  # from pi's ``x-starter-session`` header; "" when not sent
    upstream: Upstream


@dataclass
class Usage:
    """What the provider reported for one call. ``input`` excludes cached input."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    model: str = ""  # the model the provider said it used ("" when it did not say)

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal = Decimal("0")
    cache_write: Decimal = Decimal("0")

    def cost_of(self, usage: Usage) -> Decimal:
        million = Decimal(1_000_000)
        return (
            self.input * usage.input
            + self.output * usage.output
            + self.cache_read * usage.cache_read
            + self.cache_write * usage.cache_write
        ) / million


RefusalCode = Literal[
    "token_missing",
    "token_invalid",
    "provider_unknown",
    "provider_key_missing",
    "budget_reached",
    "loop_guard",
    "upstream_unreachable",
    "bad_request",
]


@dataclass(frozen=True)
class Refusal:
    """The gateway's own "no": sent as ``status`` with a body that says it is the gateway's.

    ``details`` are short scalar facts (numbers, names) that travel in the error message's
    marker (``bridge_agent.protocol.gateway_marker``) so the bridge can draw a card.
    """

    status: int
    code: RefusalCode
    message: str
    details: dict[str, str] = field(default_factory=dict)
