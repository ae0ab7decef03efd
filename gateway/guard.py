"""The loop guard: a run that repeats itself, goes on for too many calls or too long is paused.

A *run* is everything in the request after the last real user message (a tool result is
not one). Read from the body pi sends, in the four shapes it speaks (``runs_of``), three
rules apply (``verdict``):

- ``repeat``: the same tool call (name + canonical JSON of its arguments) at least
  ``repeat_limit`` times in a row at the end;
- ``calls``: more than ``call_limit`` model calls in the run (assistant turns + this one);
- ``minutes``: the run was first seen more than ``run_minutes`` ago.

The first-seen time of a run, the "paused" note the chat's buttons need, and the relaxed
state "continue" grants are kept in Redis (``GuardStore``), keyed by project, session and a
hash of the run's start, and expire after a day.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings

from gateway.calls import Refusal
from gateway.limits import GuardSettings
from starter.redis import redis_client

Rule = Literal["repeat", "calls", "minutes"]
DAY_SECONDS = 24 * 3600
# "continue" relaxes the guard for the run it starts: every limit times this.
RELAX_FACTOR = 2
ARGS_SHOWN = 120


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # canonical JSON (sorted keys, no spaces), or the raw text if not JSON


@dataclass
class Turn:
    """One entry of the conversation, as the guard needs it."""

    kind: Literal["user", "assistant", "tool_result"]
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    """The current run: the turns after the last real user message."""

    start: str  # a hash of the conversation up to and including that message
    turns: list[Turn]

    @property
    def model_calls(self) -> int:
        """This call included."""
        return sum(1 for turn in self.turns if turn.kind == "assistant") + 1

    def tool_calls(self) -> list[ToolCall]:
        return [call for turn in self.turns for call in turn.tool_calls]

    def repeated_tail(self) -> tuple[ToolCall | None, int]:
        """The last tool call and how many times in a row it ends the run."""
        calls = self.tool_calls()
        if not calls:
            return None, 0
        last = calls[-1]
        count = 0
        for call in reversed(calls):
            if call != last:
                break
            count += 1
        return last, count


def canonical(arguments: Any) -> str:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _openai_chat(messages: list[Any]) -> list[Turn]:
    turns: list[Turn] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "user":
            turns.append(Turn("user", _text_of(message.get("content"))))
        elif role == "tool":
            turns.append(Turn("tool_result"))
        elif role == "assistant":
            calls = []
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    name = str(function.get("name", ""))
                    calls.append(ToolCall(name, canonical(function.get("arguments", ""))))
            turns.append(Turn("assistant", tool_calls=calls))
    return turns


def _anthropic(messages: list[Any]) -> list[Turn]:
    turns: list[Turn] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        blocks = [block for block in blocks if isinstance(block, dict)]
        if message.get("role") == "user":
            # A user turn that carries tool results is the tools answering, not the person.
            if any(block.get("type") == "tool_result" for block in blocks):
                turns.append(Turn("tool_result"))
            else:
                turns.append(Turn("user", _text_of(content)))
        elif message.get("role") == "assistant":
            calls = [
                ToolCall(str(block.get("name", "")), canonical(block.get("input", {})))
                for block in blocks
                if block.get("type") == "tool_use"
            ]
            turns.append(Turn("assistant", tool_calls=calls))
    return turns


def _openai_responses(items: list[Any]) -> list[Turn]:
    """Responses ``input``: one model turn is a stretch of output items (reasoning, an
    assistant message, function calls) between inputs."""
    turns: list[Turn] = []
    current: Turn | None = None
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        role = item.get("role")
        if kind == "message" and role in ("user", "system", "developer"):
            current = None
            if role == "user":
                turns.append(Turn("user", _text_of(item.get("content"))))
        elif kind == "function_call_output":
            current = None
            turns.append(Turn("tool_result"))
        else:
            if current is None:
                current = Turn("assistant")
                turns.append(current)
            if kind == "function_call":
                name = str(item.get("name", ""))
                current.tool_calls.append(ToolCall(name, canonical(item.get("arguments", ""))))
    return turns


def _google(contents: list[Any]) -> list[Turn]:
    turns: list[Turn] = []
    for content in contents:
        if not isinstance(content, dict):
            continue
        parts = [part for part in content.get("parts") or [] if isinstance(part, dict)]
        if content.get("role") == "model":
            calls = [
                ToolCall(str(call.get("name", "")), canonical(call.get("args", {})))
                for part in parts
                if isinstance(call := part.get("functionCall"), dict)
            ]
            turns.append(Turn("assistant", tool_calls=calls))
        elif any("functionResponse" in part for part in parts):
            turns.append(Turn("tool_result"))
        else:
            turns.append(Turn("user", "".join(str(part.get("text", "")) for part in parts)))
    return turns


def turns_of(body: dict[str, Any]) -> list[Turn]:
    """The conversation in any of the four shapes (empty when it is none of them)."""
    if isinstance(body.get("contents"), list):
        return _google(body["contents"])
    if isinstance(body.get("input"), list):
        return _openai_responses(body["input"])
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    # Anthropic puts the system prompt beside the messages and tool calls in content blocks.
    anthropic = any(
        isinstance(message, dict)
        and isinstance(message.get("content"), list)
        and any(
            isinstance(block, dict) and block.get("type") in ("tool_use", "tool_result")
            for block in message["content"]
        )
        for message in messages
    )
    return _anthropic(messages) if anthropic else _openai_chat(messages)


def run_of(body: dict[str, Any]) -> Run | None:
    """The current run, or None when the body has no user message (nothing to guard)."""
    turns = turns_of(body)
    last_user = max((i for i, turn in enumerate(turns) if turn.kind == "user"), default=-1)
    if last_user < 0:
        return None
    # The position is part of the start, so "Continue." said twice starts two runs.
    start = hashlib.sha256(f"{last_user}\n{turns[last_user].text}".encode()).hexdigest()[:32]
    return Run(start, turns[last_user + 1 :])


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    tool: str
    arguments: str
    count: int
    limit: int

    def message(self) -> str:
        # pi retries errors with transient-sounding words; "quota exceeded" tells it not to.
        if self.rule == "repeat":
            why = (
                f"the tool {self.tool} was called {self.count} times in a row with the same "
                "arguments"
            )
        elif self.rule == "calls":
            why = f"this run made {self.count} model calls (the limit is {self.limit})"
        else:
            why = f"this run has gone on for {self.count} minutes (the limit is {self.limit})"
        return (
            f"Starter gateway: the loop guard paused this run (run quota exceeded): {why}. "
            "Continue or stop it from the chat."
        )

    def refusal(self) -> Refusal:
        details = {"rule": self.rule, "count": str(self.count), "limit": str(self.limit)}
        if self.tool:
            details["tool"] = self.tool[:64]
            details["args"] = self.arguments[:ARGS_SHOWN]
        return Refusal(409, "loop_guard", self.message(), details)


def verdict(
    run: Run, guard: GuardSettings, started_at: float, now: float, factor: int = 1
) -> Verdict | None:
    """Which rule (if any) pauses this run; ``factor`` > 1 once "continue" relaxed it."""
    repeat_limit = guard.repeat_limit * factor
    call, count = run.repeated_tail()
    if call is not None and count >= repeat_limit:
        return Verdict("repeat", call.name, call.arguments, count, repeat_limit)
    call_limit = guard.call_limit * factor
    if run.model_calls > call_limit:
        return Verdict("calls", "", "", run.model_calls, call_limit)
    minutes_limit = guard.run_minutes * factor
    minutes = int((now - started_at) // 60)
    if now - started_at > minutes_limit * 60:
        return Verdict("minutes", "", "", minutes, minutes_limit)
    return None


class GuardStore:
    """The guard's notes in Redis for one project's session."""

    def __init__(self, project_public_id: str, session_id: str) -> None:
        session = hashlib.sha256(session_id.encode()).hexdigest()[:24]
        self.base = f"{settings.STARTER_REDIS_PREFIX}:guard:{project_public_id}:{session}"
        self.redis = redis_client()

    def started_at(self, run: Run, now: float) -> tuple[float, bool]:
        """When this run was first seen, and whether that is now."""
        key = f"{self.base}:run:{run.start}"
        if self.redis.set(key, repr(now), nx=True, ex=DAY_SECONDS):
            return now, True
        value = self.redis.get(key)
        return (float(value) if value else now), False

    def factor(self, run: Run, first_seen: bool) -> int:
        """The relaxation of this run: a run that starts after "continue" gets it."""
        relaxed = f"{self.base}:relaxed:{run.start}"
        if first_seen and self.redis.delete(f"{self.base}:relax-next"):
            self.redis.set(relaxed, "1", ex=DAY_SECONDS)
        return RELAX_FACTOR if self.redis.exists(relaxed) else 1

    def pause(self, verdict: Verdict) -> None:
        note = {"rule": verdict.rule, "tool": verdict.tool, "count": verdict.count}
        self.redis.set(f"{self.base}:paused", json.dumps(note), ex=DAY_SECONDS)

    def paused(self) -> dict[str, Any] | None:
        value = self.redis.get(f"{self.base}:paused")
        return json.loads(value) if value else None

    def relax_next_run(self) -> bool:
        """Take the pause: the next run of the session is relaxed. False if not paused."""
        if not self.redis.delete(f"{self.base}:paused"):
            return False
        self.redis.set(f"{self.base}:relax-next", "1", ex=DAY_SECONDS)
        return True

    def restore_pause(self, note: dict[str, Any]) -> None:
        """Undo ``relax_next_run`` (the "continue" that took it could not start a run)."""
        self.redis.delete(f"{self.base}:relax-next")
        self.redis.set(f"{self.base}:paused", json.dumps(note), ex=DAY_SECONDS)

    def clear(self) -> bool:
        """Forget the pause and any relaxation; True if the session was paused."""
        was_paused = bool(self.redis.delete(f"{self.base}:paused", f"{self.base}:relax-next"))
        for key in self.redis.scan_iter(f"{self.base}:relaxed:*"):
            self.redis.delete(key)
        return was_paused


def check(
    project_public_id: str,
    session_id: str,
    body: dict[str, Any] | None,
    guard: GuardSettings,
    now: float | None = None,
) -> Refusal | None:
    """The guard's 409 for this call (and the session noted as paused), or None."""
    if not guard.enabled or body is None:
        return None
    run = run_of(body)
    if run is None:
        return None
    now = time.time() if now is None else now
    store = GuardStore(project_public_id, session_id)
    started_at, first_seen = store.started_at(run, now)
    found = verdict(run, guard, started_at, now, store.factor(run, first_seen))
    if found is None:
        return None
    store.pause(found)
    return found.refusal()
