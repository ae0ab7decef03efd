"""A scripted OpenAI-compatible model server for tests that run the real ``pi`` binary.

It speaks the ``/v1/chat/completions`` streaming protocol (Server-Sent Events of
``chat.completion.chunk`` objects, then ``data: [DONE]``) on 127.0.0.1, from a standard-library
``ThreadingHTTPServer``. What it answers is chosen from the conversation it is sent, so a test
scripts the agent by what it types::

    with ScriptedModelServer() as server:
        write_pi_config(home, server.base_url)       # pi now uses provider "fake"
        ...prompt pi with "[[bash: echo hi]]"...
        assert server.requests[-1]["model"] == "fake-model"

How a reply is chosen, first rule that applies:

1. **No ``tools`` in the request** → it is pi's compaction call: a text answer starting with
   ``SUMMARY:``.
2. **Markers in the last user message**, written ``[[kind: argument]]``:

   ``[[bash: CMD]]``
       call the ``bash`` tool with ``{"command": CMD}``.
   ``[[tool: NAME {json args}]]``
       call any tool (``notify_dashboard``, ``request_secret``, …) with those arguments.
   ``[[reply: TEXT]]``
       answer exactly TEXT (streamed in a few deltas).
   ``[[slow: N]]``
       stream N small deltas (default 300), one every 0.1 s: a reply that is still going
       when a test steers or aborts it. Stops when the client disconnects.
   ``[[delay: SECONDS]]``
       wait this long before answering (applies to every reply of this user message).
   ``[[fail: STATUS]]``
       answer with that HTTP error status (default 500).
   ``[[flaky: N]]``
       answer the first N requests for this user message with a 503, then as usual: pi
       retries the run by itself (``agent_end.willRetry``, ``auto_retry_start``).

   ``[[loop: CMD]]``
       call ``bash`` with ``{"command": CMD}`` again after every tool result, forever (a stuck
       agent, for the gateway's loop guard).
   ``[[usage: INPUT OUTPUT [CACHED]]]``
       report this usage (``prompt_tokens`` INPUT + CACHED, ``completion_tokens`` OUTPUT,
       ``prompt_tokens_details.cached_tokens`` CACHED) for every reply to this user message;
       without it every reply reports 50 prompt and 10 completion tokens.

   Tool markers (``bash``, ``tool``) run in order, one per model call: after the user
   message the model calls the first; once its result is in, the second; and so on.
3. **When every tool marker has run** (the last message is a tool result) → a final text:
   ``Done. <the last tool output, up to 300 characters>``.
4. **Otherwise** → ``Scripted answer: <the user's text>``, or the ``[[reply: …]]`` text.

Every request body is kept in ``server.requests`` (parsed JSON) so tests can check what pi
sent: the model id, the system prompt, the tools. ``server.keys`` holds the key each request
presented (``Authorization: Bearer KEY`` or ``x-api-key: KEY``); a server started with
``ScriptedModelServer(api_key=KEY)`` answers 401 to a request without that key, as a real
provider does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from starter.env import port_list

PROVIDER = "fake"
MODEL = "fake-model"
OTHER_MODEL = "fake-model-2"
# A model that declares reasoning support: pi offers it thinking levels beyond "off".
REASONING_MODEL = "fake-reasoner"
API_KEY = "sk-scripted-fake"

MARKER = re.compile(r"\[\[(\w+)(?::\s*(.*?))?\]\]", re.DOTALL)
TOOL_MARKERS = ("bash", "tool")


@dataclass(frozen=True)
class Reply:
    """What the server decided to answer one request with."""

    text: str = ""
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    slow_chunks: int = 0
    delay: float = 0.0
    fail_status: int | None = None
    # (prompt_tokens without cached, completion_tokens, cached prompt tokens)
    usage: tuple[int, int, int] = (50, 10, 0)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    messages: list[dict[str, Any]] = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    return _text_of(users[-1].get("content")) if users else ""


def choose_reply(body: dict[str, Any], seen_before: int = 0) -> Reply:
    """The scripting rules of the module docstring, applied to one request body.

    ``seen_before``: how many earlier requests carried the same last user message (the
    ``flaky`` marker counts them).
    """
    reply = _choose_reply(body, seen_before)
    numbers = [int(n) for n in re.findall(r"\d+", _usage_option(body))]
    if len(numbers) >= 2:
        return replace(reply, usage=(numbers[0], numbers[1], numbers[2] if len(numbers) > 2 else 0))
    return reply


def _usage_option(body: dict[str, Any]) -> str:
    for kind, arg in MARKER.findall(last_user_text(body)):
        if kind.lower() == "usage":
            return arg or ""
    return ""


def _choose_reply(body: dict[str, Any], seen_before: int) -> Reply:
    messages: list[dict[str, Any]] = body.get("messages") or []
    if not body.get("tools"):
        return Reply(text="SUMMARY: the conversation so far, compacted by the scripted model.")
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    user_text = _text_of(messages[last_user].get("content")) if last_user >= 0 else ""
    markers = [(kind.lower(), (arg or "").strip()) for kind, arg in MARKER.findall(user_text)]
    options = {kind: arg for kind, arg in markers}
    delay = float(options["delay"]) if options.get("delay") else 0.0
    if "fail" in options:
        return Reply(fail_status=int(options["fail"] or 500), delay=delay)
    if "flaky" in options and seen_before < int(options["flaky"] or 1):
        return Reply(fail_status=503, delay=delay)
    actions = [(kind, arg) for kind, arg in markers if kind in TOOL_MARKERS]
    after_user = messages[last_user + 1 :]
    calls_made = sum(
        len(m.get("tool_calls") or []) for m in after_user if m.get("role") == "assistant"
    )
    if "loop" in options:
        return Reply(tool_name="bash", tool_args={"command": options["loop"]}, delay=delay)
    if calls_made < len(actions):
        kind, arg = actions[calls_made]
        if kind == "bash":
            return Reply(tool_name="bash", tool_args={"command": arg}, delay=delay)
        name, _, raw_args = arg.partition(" ")
        args = json.loads(raw_args) if raw_args.strip() else {}
        return Reply(tool_name=name.strip(), tool_args=args, delay=delay)
    tool_outputs = [_text_of(m.get("content")) for m in after_user if m.get("role") == "tool"]
    if tool_outputs:
        return Reply(text=f"Done. {tool_outputs[-1][:300]}", delay=delay)
    if "slow" in options:
        return Reply(slow_chunks=int(options["slow"] or 300), delay=delay)
    if "reply" in options:
        return Reply(text=options["reply"], delay=delay)
    plain = MARKER.sub("", user_text).strip()
    return Reply(text=f"Scripted answer: {plain[:200]}", delay=delay)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            models = [
                {"id": model_id, "object": "model"}
                for model_id in (MODEL, OTHER_MODEL, REASONING_MODEL)
            ]
            self._json(200, {"object": "list", "data": models})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"error": {"message": "invalid JSON"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        key = self._presented_key()
        seen_before = self.server.record(body, key)
        if self.server.required_key is not None and key != self.server.required_key:
            self._json(401, {"error": {"message": "Incorrect API key provided."}})
            return
        reply = choose_reply(body, seen_before)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.fail_status:
            self._json(reply.fail_status, {"error": {"message": "scripted failure"}})
            return
        try:
            self._stream(body, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # pi aborted the request

    def _presented_key(self) -> str | None:
        authorization = self.headers.get("authorization") or ""
        if authorization.lower().startswith("bearer "):
            return authorization[len("bearer ") :]
        return self.headers.get("x-api-key")

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, body: dict[str, Any], reply: Reply) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        completion_id = f"chatcmpl-{self.server.next_id()}"
        model = str(body.get("model", MODEL))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if reply.tool_name is not None:
            call_id = f"call_{self.server.next_id()}"
            arguments = json.dumps(reply.tool_args or {})
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": reply.tool_name, "arguments": ""},
                        }
                    ]
                }
            )
            step = max(1, len(arguments) // 3 + 1)
            for start in range(0, len(arguments), step):
                piece = arguments[start : start + step]
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            chunk({}, "tool_calls")
        elif reply.slow_chunks:
            for number in range(reply.slow_chunks):
                chunk({"content": f"tick{number} "})
                time.sleep(0.1)
            chunk({}, "stop")
        else:
            for piece in _pieces(reply.text, 4):
                chunk({"content": piece})
            chunk({}, "stop")
        fresh, output, cached = reply.usage
        usage = {
            "prompt_tokens": fresh + cached,
            "completion_tokens": output,
            "total_tokens": fresh + cached + output,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        final = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


def _pieces(text: str, count: int) -> Iterator[str]:
    size = max(1, -(-len(text) // count))
    for start in range(0, len(text), size):
        yield text[start : start + size]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.requests: list[dict[str, Any]] = []
        self.keys: list[str | None] = []
        self.required_key: str | None = None
        self._lock = threading.Lock()
        self._counter = 0

    def record(self, body: dict[str, Any], key: str | None = None) -> int:
        """Keep ``body`` (and the key it came with); answers how many earlier requests had
        the same last user message."""
        text = last_user_text(body)
        with self._lock:
            seen = sum(1 for earlier in self.requests if last_user_text(earlier) == text)
            self.requests.append(body)
            self.keys.append(key)
            return seen

    def next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter


def _bind(host: str, port: int) -> _Server:
    """Bound to ``port``, or else to a free port among those sandboxed Sprites may reach
    (``STARTER_SPRITE_LOOPBACK_PORTS``, which tests/conftest.py sets for the whole run):
    a local Sprite reaches nothing else on this machine."""
    if port:
        return _Server((host, port))
    candidates = port_list(os.environ.get("STARTER_SPRITE_LOOPBACK_PORTS", ""))
    for candidate in candidates:
        try:
            return _Server((host, candidate))
        except OSError:
            continue
    if candidates:
        # A server on another port is one no sandboxed Sprite reaches: its tests would wait
        # for requests that never come. Say who holds the run's ports instead.
        listing = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, check=False)
        taken = [
            line
            for line in listing.stdout.splitlines()
            if any(f":{port} " in line for port in candidates)
        ]
        raise RuntimeError(
            "every port of STARTER_SPRITE_LOOPBACK_PORTS is taken:\n" + "\n".join(taken)
        )
    return _Server((host, 0))


class ScriptedModelServer:
    """The server as a context manager; ``base_url`` ends in ``/v1`` as pi expects."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None
    ) -> None:
        self._server = _bind(host, port)
        self._server.required_key = api_key
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every request body received so far, oldest first."""
        with self._server._lock:
            return list(self._server.requests)

    @property
    def keys(self) -> list[str | None]:
        """The key each request presented (``None``: none), in the order of ``requests``."""
        with self._server._lock:
            return list(self._server.keys)

    def wait_for_request(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.requests:
                if predicate(body):
                    return body
            time.sleep(0.05)
        raise TimeoutError("no matching model request")

    def start(self) -> ScriptedModelServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scripted-model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def pi_models_config(base_url: str, *, image_input: bool = False) -> dict[str, Any]:
    """pi's ``models.json`` with provider ``fake`` and models ``fake-model``, ``fake-model-2``
    (neither can reason) and ``fake-reasoner`` (declares reasoning).

    With ``image_input`` the models declare ``input: ["text", "image"]``: pi sends a prompt's
    images only to such a model (for a text-only one it puts a placeholder text in their place).
    """
    model = {
        "reasoning": False,
        "input": ["text", "image"] if image_input else ["text"],
        "contextWindow": 128000,
        "maxTokens": 4096,
        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
    }
    return {
        "providers": {
            PROVIDER: {
                "baseUrl": base_url,
                "api": "openai-completions",
                "apiKey": API_KEY,
                "compat": {
                    "supportsDeveloperRole": False,
                    "supportsReasoningEffort": False,
                    "supportsStore": False,
                },
                "models": [
                    {"id": MODEL, "name": "Scripted model", **model},
                    {"id": OTHER_MODEL, "name": "Scripted model 2", **model},
                    {
                        "id": REASONING_MODEL,
                        "name": "Scripted reasoning model",
                        **model,
                        "reasoning": True,
                    },
                ],
            }
        }
    }


def pi_config_files(base_url: str, *, image_input: bool = False) -> dict[str, bytes]:
    """``models.json`` and ``settings.json`` that make pi use the scripted server, by their
    path relative to a home (for a Sprite's ``write_file``, which writes as the Sprite)."""
    settings = {
        "defaultProvider": PROVIDER,
        "defaultModel": MODEL,
        "quietStartup": True,
        "enableInstallTelemetry": False,
    }
    return {
        ".pi/agent/models.json": json.dumps(
            pi_models_config(base_url, image_input=image_input), indent=2
        ).encode(),
        ".pi/agent/settings.json": json.dumps(settings, indent=2).encode(),
    }


def write_pi_config(
    home: Path, base_url: str, *, agent_dir: Path | None = None, image_input: bool = False
) -> Path:
    """Write ``models.json`` and ``settings.json`` so pi uses the scripted server.

    They go to ``agent_dir``, by default ``<home>/.pi/agent`` (the bridge's
    ``PI_CODING_AGENT_DIR``). Returns that directory.
    """
    directory = agent_dir or home / ".pi" / "agent"
    directory.mkdir(parents=True, exist_ok=True)
    for relative, content in pi_config_files(base_url, image_input=image_input).items():
        (directory / Path(relative).name).write_bytes(content)
    return directory
