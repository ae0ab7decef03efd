"""Request and response bodies of the user-settings API. Secret values only ever come in."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel

from bridge_agent.protocol import ThinkingLevel


def _printable(value: str) -> str:
    if any(ord(character) < 32 for character in value):
        raise ValueError("must not contain NUL or other control characters")
    return value


PrintableText = Annotated[str, AfterValidator(_printable)]


class Input(BaseModel):
    """A request body. Plain pydantic, not ninja's Schema: that one also accepts any object
    (reading fields as attributes), so a JSON array would pass as an empty body."""


class ProviderKeyOut(Schema):
    provider: str
    label: str
    has_key: bool
    set_at: datetime | None = Field(description="When the key was saved; the key is write-only.")


class SettingsOut(Schema):
    default_provider: str
    default_model: str
    default_thinking_level: ThinkingLevel
    providers: list[ProviderKeyOut]
    sprites_token_set_at: datetime | None


class DefaultsPatchIn(Input):
    """Only the fields given change."""

    default_provider: PrintableText | None = Field(None, max_length=64, examples=["anthropic"])
    default_model: PrintableText | None = Field(
        None, max_length=200, examples=["claude-sonnet-4-5"]
    )
    default_thinking_level: ThinkingLevel | None = None


class ApiKeyIn(Input):
    key: str = Field(description="Write-only: never returned by any endpoint.", min_length=1)


PRICE_HELP = 'US dollars per million tokens; null: unknown (usage shows "price unknown").'


class CustomProviderOut(Schema):
    name: str
    api: Literal["openai-completions", "anthropic-messages"]
    base_url: str
    model_ids: list[str]
    has_key: bool = Field(description="Whether a key is saved; the key is write-only.")
    price_input: float | None = Field(description=PRICE_HELP)
    price_output: float | None = Field(description=PRICE_HELP)
    price_cache_read: float | None = Field(description=PRICE_HELP)
    price_cache_write: float | None = Field(description=PRICE_HELP)


class CustomProviderIn(Input):
    """The whole provider: every field is replaced, except a missing ``api_key`` keeps the
    saved key. A cost is counted only when at least the input and output prices are set."""

    api: Literal["openai-completions", "anthropic-messages"]
    base_url: PrintableText = Field(max_length=500, examples=["http://gpu-box:11434/v1"])
    model_ids: list[PrintableText] = Field(min_length=1, max_length=100)
    api_key: PrintableText | None = Field(
        None, max_length=4096, description="Write-only: never returned by any endpoint."
    )
    price_input: Decimal | None = Field(None, description=PRICE_HELP, examples=[0.15])
    price_output: Decimal | None = Field(None, description=PRICE_HELP, examples=[0.6])
    price_cache_read: Decimal | None = Field(None, description=PRICE_HELP)
    price_cache_write: Decimal | None = Field(None, description=PRICE_HELP)
