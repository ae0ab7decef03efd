"""A small stand-in for the providers whose shapes the scripted model server does not speak.

It answers, from a standard-library threaded HTTP server on 127.0.0.1, the way the real APIs
do, with canned usage numbers the tests check in the ledger:

- ``POST …/v1/messages``: Anthropic messages, as SSE when the body says ``"stream": true``
  (``message_start`` with input and cache numbers, deltas, ``message_delta`` with the
  output), else the JSON message; with ``"break_off": true`` a stream that stops mid-way;
- ``POST …/models/<model>:streamGenerateContent?alt=sse``: Google's SSE chunks with a
  cumulative ``usageMetadata``; without ``alt=sse`` the JSON array Google streams;
  ``…:generateContent``: one JSON object;
- ``POST …/responses``: OpenAI responses SSE ending in ``response.completed``;
- anything else: 200 ``{"echo": true}``.

Every request is kept (method, raw path, headers, body) so tests can check what the gateway
really sent: which key, which headers, which path, on which host.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANTHROPIC_USAGE = {"input": 1200, "cache_write": 300, "cache_read": 4000, "output": 345}
GOOGLE_USAGE = {"prompt": 5000, "cached": 1500, "candidates": 240, "thoughts": 60}
RESPONSES_USAGE = {"input": 900, "cached": 100, "output": 77}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def anthropic_events(model: str) -> list[dict[str, Any]]:
    u = ANTHROPIC_USAGE
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_canned",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "usage": {
                    "input_tokens": u["input"],
                    "cache_creation_input_tokens": u["cache_write"],
                    "cache_read_input_tokens": u["cache_read"],
                    "output_tokens": 1,
                },
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": u["output"]},
        },
        {"type": "message_stop"},
    ]


def google_chunks(model: str) -> list[dict[str, Any]]:
    u = GOOGLE_USAGE
    chunks = []
    for index, text in enumerate(["Hel", "lo", "!"]):
        last = index == 2
        chunks.append(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": text}], "role": "model"},
                        **({"finishReason": "STOP"} if last else {}),
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": u["prompt"],
                    "cachedContentTokenCount": u["cached"],
                    "candidatesTokenCount": u["candidates"] if last else index + 1,
                    "thoughtsTokenCount": u["thoughts"],
                    "totalTokenCount": u["prompt"] + u["candidates"] + u["thoughts"],
                },
                "modelVersion": model,
            }
        )
    return chunks


def responses_events(model: str) -> list[dict[str, Any]]:
    u = RESPONSES_USAGE
    response = {"id": "resp_canned", "object": "response", "model": model, "status": "completed"}
    return [
        {"type": "response.created", "response": {**response, "status": "in_progress"}},
        {"type": "response.output_text.delta", "delta": "Hi", "item_id": "m", "output_index": 0},
        {
            "type": "response.completed",
            "response": {
                **response,
                "usage": {
                    "input_tokens": u["input"] + u["cached"],
                    "input_tokens_details": {"cached_tokens": u["cached"]},
                    "output_tokens": u["output"],
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": u["input"] + u["cached"] + u["output"],
                },
            },
        },
    ]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.record(
            Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
        )
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        path, _, query = self.path.partition("?")
        model = str(body.get("model") or "canned-model") if isinstance(body, dict) else ""
        if path.endswith("/v1/messages"):
            if body.get("break_off"):
                self._broken_stream(anthropic_events(model)[:4])
            elif body.get("stream"):
                self._sse([(e["type"], e) for e in anthropic_events(model)])
            else:
                message = anthropic_events(model)[0]["message"]
                usage = dict(message["usage"], output_tokens=ANTHROPIC_USAGE["output"])
                content = [{"type": "text", "text": "Hi!"}]
                self._json(200, {**message, "content": content, "usage": usage})
        elif ":streamGenerateContent" in path:
            model = path.rsplit("/", 1)[-1].split(":", 1)[0]
            if "alt=sse" in query:
                self._sse([(None, c) for c in google_chunks(model)])
            else:
                self._json(200, google_chunks(model))
        elif ":generateContent" in path:
            model = path.rsplit("/", 1)[-1].split(":", 1)[0]
            self._json(200, google_chunks(model)[-1])
        elif path.endswith("/responses"):
            self._sse([(e["type"], e) for e in responses_events(model)])
        else:
            self._json(200, {"echo": True})

    do_GET = _answer
    do_POST = _answer
    do_PUT = _answer
    do_DELETE = _answer

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _broken_stream(self, events: list[dict[str, Any]]) -> None:
        """A chunked SSE answer that stops mid-way: the connection closes without the last
        chunk (a provider that fell over)."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in events:
            data = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.close_connection = True

    def _sse(self, events: list[tuple[str | None, dict[str, Any]]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, event in events:
            head = f"event: {name}\n" if name else ""
            self.wfile.write(f"{head}data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.01)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)


class CannedUpstream:
    """The server as a context manager; ``url`` is its origin (``http://127.0.0.1:PORT``)."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[Seen]:
        with self._server._lock:
            return list(self._server.seen)

    def __enter__(self) -> CannedUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
