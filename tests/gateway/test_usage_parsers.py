"""Reading usage from the four answer shapes, streamed and not, as the providers send them
(payloads modelled on the providers' documented examples), through the same ``UsageTap`` the
proxy feeds chunk by chunk."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from gateway.calls import Usage
from gateway.stream_tap import MAX_BODY_BYTES, UsageTap

SSE = "text/event-stream; charset=utf-8"


def sse(events: list[dict[str, Any] | str], *, named: bool = False, crlf: bool = False) -> bytes:
    out = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        head = f"event: {event['type']}\n" if named and isinstance(event, dict) else ""
        out.append(f"{head}data: {data}\n\n")
    text = "".join(out)
    return (text.replace("\n", "\r\n") if crlf else text).encode()


def tap_all(
    api: str, body: bytes, content_type: str, *, piece: int = 7, encoding: str = ""
) -> Usage:
    """Feed ``body`` in small pieces (events split across chunks, as on the wire)."""
    tap = UsageTap(api, content_type, encoding)
    for start in range(0, len(body), piece):
        tap.feed(body[start : start + piece])
    return tap.finish()


def numbers(usage: Usage) -> tuple[int, int, int, int, str]:
    return usage.input, usage.output, usage.cache_read, usage.cache_write, usage.model


# -- OpenAI chat completions -------------------------------------------------------------------

COMPLETION_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
}
COMPLETIONS_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def test_completions_stream_reads_the_usage_chunk_with_cached_tokens() -> None:
    events: list[dict[str, Any] | str] = [
        COMPLETION_CHUNK,
        {**COMPLETION_CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**COMPLETION_CHUNK, "choices": [], "usage": COMPLETIONS_USAGE},
        "[DONE]",
    ]
    usage = tap_all("openai-completions", sse(events), SSE)
    assert numbers(usage) == (86, 300, 1920, 0, "gpt-4o-2024-08-06")


def test_completions_chunks_with_null_usage_until_the_last() -> None:
    """Some compatible servers send ``"usage": null`` in every chunk."""
    events: list[dict[str, Any] | str] = [
        {**COMPLETION_CHUNK, "usage": None},
        {**COMPLETION_CHUNK, "usage": None},
        {**COMPLETION_CHUNK, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 3}},
        "[DONE]",
    ]
    usage = tap_all("openai-completions", sse(events, crlf=True), SSE)
    assert numbers(usage)[:4] == (10, 3, 0, 0)


def test_completions_body_and_deepseek_cache_hits() -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "deepseek-chat",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}],
        "usage": {
            "prompt_tokens": 500,
            "completion_tokens": 20,
            "prompt_cache_hit_tokens": 128,
            "prompt_cache_miss_tokens": 372,
        },
    }
    usage = tap_all("openai-completions", json.dumps(body).encode(), "application/json")
    assert numbers(usage) == (372, 20, 128, 0, "deepseek-chat")


def test_an_unknown_api_is_read_as_openai_compatible() -> None:
    body = {"model": "m", "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
    usage = tap_all("some-new-api", json.dumps(body).encode(), "application/json")
    assert numbers(usage) == (7, 2, 0, 0, "m")


# -- OpenAI responses --------------------------------------------------------------------------

RESPONSE = {"id": "resp_1", "object": "response", "model": "gpt-5-2025-08-07", "output": []}
RESPONSES_USAGE = {
    "input_tokens": 3000,
    "input_tokens_details": {"cached_tokens": 2048},
    "output_tokens": 410,
    "output_tokens_details": {"reasoning_tokens": 384},
    "total_tokens": 3410,
}


def test_responses_stream_reads_response_completed() -> None:
    events: list[dict[str, Any] | str] = [
        {"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "usage": None}},
        {"type": "response.output_text.delta", "delta": "usage is a word", "sequence_number": 1},
        {
            "type": "response.completed",
            "sequence_number": 2,
            "response": {**RESPONSE, "status": "completed", "usage": RESPONSES_USAGE},
        },
    ]
    usage = tap_all("openai-responses", sse(events, named=True), SSE, piece=13)
    assert numbers(usage) == (952, 410, 2048, 0, "gpt-5-2025-08-07")


def test_responses_body_and_azure() -> None:
    body = json.dumps({**RESPONSE, "usage": RESPONSES_USAGE}).encode()
    for api in ("openai-responses", "azure-openai-responses"):
        usage = tap_all(api, body, "application/json")
        assert numbers(usage) == (952, 410, 2048, 0, "gpt-5-2025-08-07")


# -- Anthropic messages -----------------------------------------------------------------------

MESSAGE_START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "usage": {
            "input_tokens": 25,
            "cache_creation_input_tokens": 1200,
            "cache_read_input_tokens": 14000,
            "output_tokens": 1,
        },
    },
}


def test_anthropic_stream_takes_input_from_start_and_output_from_delta() -> None:
    events: list[dict[str, Any] | str] = [
        MESSAGE_START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 512},
        },
        {"type": "message_stop"},
    ]
    usage = tap_all("anthropic-messages", sse(events, named=True), SSE, piece=5)
    assert numbers(usage) == (25, 512, 14000, 1200, "claude-sonnet-4-5-20250929")


def test_anthropic_delta_with_cumulative_input_replaces_it() -> None:
    events: list[dict[str, Any] | str] = [
        MESSAGE_START,
        {
            "type": "message_delta",
            "usage": {"input_tokens": 30, "output_tokens": 9, "cache_read_input_tokens": None},
        },
    ]
    usage = tap_all("anthropic-messages", sse(events, named=True), SSE)
    assert numbers(usage)[:4] == (30, 9, 14000, 1200)


def test_anthropic_body() -> None:
    body = {**MESSAGE_START["message"], "usage": {"input_tokens": 12, "output_tokens": 40}}
    usage = tap_all("anthropic-messages", json.dumps(body).encode(), "application/json")
    assert numbers(usage) == (12, 40, 0, 0, "claude-sonnet-4-5-20250929")


# -- Google -----------------------------------------------------------------------------------


def google_chunk(text: str, candidates: int, *, last: bool = False) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                **({"finishReason": "STOP"} if last else {}),
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 9000,
            "cachedContentTokenCount": 8000,
            "candidatesTokenCount": candidates,
            "thoughtsTokenCount": 120,
            "totalTokenCount": 9000 + candidates + 120,
        },
        "modelVersion": "gemini-2.5-pro",
        "responseId": "r1",
    }


def test_google_sse_takes_the_last_usage_metadata() -> None:
    chunks = [google_chunk("Hel", 1), google_chunk("lo", 2), google_chunk("!", 33, last=True)]
    usage = tap_all("google-generative-ai", sse(list(chunks)), "text/event-stream")
    assert numbers(usage) == (1000, 153, 8000, 0, "gemini-2.5-pro")


def test_google_json_array_and_single_body() -> None:
    chunks = [google_chunk("Hel", 1), google_chunk("!", 33, last=True)]
    array = tap_all("google-generative-ai", json.dumps(chunks).encode(), "application/json")
    single = tap_all("google-generative-ai", json.dumps(chunks[-1]).encode(), "application/json")
    assert numbers(array) == numbers(single) == (1000, 153, 8000, 0, "gemini-2.5-pro")


# -- what must never break a stream ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'data: {not json}\n\ndata: {"usage": \n\n',
        b'data: {"usage": {"prompt_tokens": "many", "completion_tokens": [1]}}\n\n',
        b'data: {"usage": 5}\n\ndata: [1, 2, "usage"]\n\n',
        b"\xff\xfe\x00garbage\n\n\n\x00usage",
        b"event: x\nid: 3\nretry: 10\n: comment usage\n\n",
        b'data: {"usage": {"prompt_tokens": -5, "completion_tokens": true}}\n\n',
    ],
)
def test_garbled_streams_give_zero_usage_and_no_exception(body: bytes) -> None:
    for api in (
        "openai-completions",
        "openai-responses",
        "anthropic-messages",
        "google-generative-ai",
    ):
        usage = tap_all(api, body, SSE, piece=3)
        assert numbers(usage)[:4] == (0, 0, 0, 0)


def test_a_garbled_body_and_an_oversized_one_give_zero_usage() -> None:
    assert numbers(tap_all("openai-completions", b"<html>502</html>", "text/html"))[:4] == (
        0,
        0,
        0,
        0,
    )
    tap = UsageTap("openai-completions", "application/json")
    tap.feed(b'{"usage": {"prompt_tokens": 1, "completion_tokens": 1}, "pad": "')
    tap.feed(b"x" * MAX_BODY_BYTES)
    tap.feed(b'"}')
    assert tap.finish().total == 0  # not kept past the bound, so not read


def test_a_stream_cut_short_keeps_what_was_reported() -> None:
    """An aborted Anthropic stream: the input side was reported, the output never came."""
    body = sse([MESSAGE_START], named=True) + b'event: content_block_delta\ndata: {"ty'
    usage = tap_all("anthropic-messages", body, SSE)
    assert numbers(usage)[:4] == (25, 1, 14000, 1200)


def test_a_gzip_body_is_read_on_the_side() -> None:
    body = gzip.compress(
        json.dumps({"usage": {"prompt_tokens": 4, "completion_tokens": 5}}).encode()
    )
    usage = tap_all("openai-completions", body, "application/json", encoding="gzip")
    assert numbers(usage)[:4] == (4, 5, 0, 0)
