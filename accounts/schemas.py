"""Request and response bodies of the user-settings API. Secret values only ever come in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

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
