"""What each provider's answer says a call used, read from its own events and bodies.

One reader per wire shape (``api`` in pi's model table): OpenAI chat completions (and the
OpenAI-compatible family), OpenAI responses (and Azure's), Anthropic messages, Google
generative AI. Each takes one decoded JSON object at a time (an SSE event's data, a whole
JSON body, or one element of Google's JSON-array stream) and updates a ``Usage``: providers
report cumulative numbers, so a later report replaces an earlier one, never adds to it.

Nothing here raises on a shape it does not know: unknown or garbled input leaves the usage
as it was (zero when nothing was understood), because metering must never break a stream.
The numbers follow pi's own readers (pi-ai's ``parseChunkUsage``, ``finalizeResponse``, the
Anthropic and Google stream handlers), so the ledger agrees with what pi shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.calls import Usage

Reader = Callable[[dict[str, Any], Usage], None]


def _count(value: object) -> int:
    """A token count from a JSON value: non-negative ints only (bools, floats, text → 0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, value)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _model(value: object) -> str:
    return value[:200] if isinstance(value, str) else ""


def read_completions(event: dict[str, Any], usage: Usage) -> None:
    """OpenAI chat completions: the streamed chunk with ``usage`` (with
    ``stream_options.include_usage``), or a whole body's ``usage``. ``prompt_tokens`` includes
    the cached ones (``prompt_tokens_details.cached_tokens``; DeepSeek's
    ``prompt_cache_hit_tokens``; Kimi's top-level ``cached_tokens``)."""
    if model := _model(event.get("model")):
        usage.model = model
    raw = event.get("usage")
    if not isinstance(raw, dict):
        # Some OpenAI-compatible servers (Moonshot) put it on the choice instead.
        choices = event.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        raw = _dict(first).get("usage") if isinstance(first, dict) else None
        if not isinstance(raw, dict):
            return
    if "prompt_tokens" not in raw and "completion_tokens" not in raw:
        return
    prompt = _count(raw.get("prompt_tokens"))
    details = _dict(raw.get("prompt_tokens_details"))
    cached = _count(
        details.get("cached_tokens", raw.get("prompt_cache_hit_tokens", raw.get("cached_tokens")))
    )
    cache_write = _count(details.get("cache_write_tokens"))
    cached = min(cached, prompt)
    usage.input = max(0, prompt - cached - cache_write)
    usage.cache_read = cached
    usage.cache_write = cache_write
    usage.output = _count(raw.get("completion_tokens"))


def _responses_usage(raw: dict[str, Any], usage: Usage) -> None:
    details = _dict(raw.get("input_tokens_details"))
    cached = _count(details.get("cached_tokens"))
    cache_write = _count(details.get("cache_write_tokens"))
    usage.input = max(0, _count(raw.get("input_tokens")) - cached - cache_write)
    usage.cache_read = cached
    usage.cache_write = cache_write
    usage.output = _count(raw.get("output_tokens"))


def read_responses(event: dict[str, Any], usage: Usage) -> None:
    """OpenAI responses: the terminal event (``response.completed``, ``.incomplete``,
    ``.failed``) carries ``response.usage``; a whole body is the response itself.
    ``input_tokens`` includes ``input_tokens_details.cached_tokens``."""
    kind = event.get("type")
    response = _dict(event.get("response")) if isinstance(kind, str) else event
    if model := _model(response.get("model")):
        usage.model = model
    raw = response.get("usage")
    if isinstance(raw, dict):
        _responses_usage(raw, usage)


def read_anthropic(event: dict[str, Any], usage: Usage) -> None:
    """Anthropic messages: ``message_start`` carries the input side (``input_tokens``
    excludes the cached ones, reported as ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``), ``message_delta`` the cumulative output; a whole body
    is the message with its ``usage``. Fields a later event leaves out keep their value."""
    kind = event.get("type")
    if kind == "message_start":
        message = _dict(event.get("message"))
    elif kind == "message_delta":
        message = event
    elif kind == "message" or (kind is None and "usage" in event):
        message = event
    else:
        return
    if model := _model(message.get("model")):
        usage.model = model
    raw = message.get("usage")
    if not isinstance(raw, dict):
        return
    if "input_tokens" in raw and raw["input_tokens"] is not None:
        usage.input = _count(raw["input_tokens"])
    if "output_tokens" in raw and raw["output_tokens"] is not None:
        usage.output = _count(raw["output_tokens"])
    if raw.get("cache_read_input_tokens") is not None:
        usage.cache_read = _count(raw["cache_read_input_tokens"])
    if raw.get("cache_creation_input_tokens") is not None:
        usage.cache_write = _count(raw["cache_creation_input_tokens"])


def read_google(event: dict[str, Any], usage: Usage) -> None:
    """Google generative AI: every chunk may carry the cumulative ``usageMetadata``
    (``promptTokenCount`` includes ``cachedContentTokenCount``; output is candidates plus
    thoughts) and ``modelVersion``."""
    if model := _model(event.get("modelVersion")):
        usage.model = model
    raw = event.get("usageMetadata")
    if not isinstance(raw, dict):
        return
    cached = _count(raw.get("cachedContentTokenCount"))
    usage.input = max(0, _count(raw.get("promptTokenCount")) - cached)
    usage.cache_read = cached
    usage.cache_write = 0
    usage.output = _count(raw.get("candidatesTokenCount")) + _count(raw.get("thoughtsTokenCount"))


READERS: dict[str, Reader] = {
    "openai-completions": read_completions,
    "mistral-conversations": read_completions,
    "openai-responses": read_responses,
    "azure-openai-responses": read_responses,
    "openai-codex-responses": read_responses,
    "anthropic-messages": read_anthropic,
    "google-generative-ai": read_google,
}


def reader_for(api: str) -> Reader:
    """The reader of an API shape; the OpenAI-compatible one for every other shape."""
    return READERS.get(api, read_completions)


def read_object(reader: Reader, value: object, usage: Usage) -> None:
    """Feed one decoded JSON value (an object, or Google's array of chunks) to ``reader``;
    whatever it cannot read is skipped."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict):
            try:
                reader(item, usage)
            except (TypeError, ValueError, AttributeError, KeyError):
                continue
