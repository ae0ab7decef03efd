"""The loop guard: the run in each of the four body shapes, its three rules, the Redis
notes behind "continue" and "stop", and their endpoints."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from gateway import admission, guard, limits
from gateway.calls import CallContext, Upstream
from gateway.guard import GuardStore, ToolCall
from gateway.limits import GuardSettings
from projects.models import Project

GUARD = GuardSettings(enabled=True, repeat_limit=3, call_limit=6, run_minutes=30)
BASH = ToolCall("bash", '{"command":"echo same"}')


def openai_chat(calls: int, *, same: bool = True) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "be useful"},
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "[[loop: echo same]]"}]},
    ]
    for n in range(calls):
        command = "echo same" if same else f"echo {n}"
        arguments = json.dumps({"command": command}, indent=2 if n % 2 else None)
        messages.append(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": f"c{n}",
                        "type": "function",
                        "function": {"name": "bash", "arguments": arguments},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{n}", "content": "same"})
    return {"model": "m", "messages": messages}


def anthropic(calls: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for n in range(calls):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "again"},
                    {
                        "type": "tool_use",
                        "id": f"t{n}",
                        "name": "bash",
                        "input": {"command": "echo same"},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": "same"}],
            }
        )
    return {"system": "be useful", "messages": messages}


def responses(calls: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"role": "developer", "content": "be useful"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
    ]
    for n in range(calls):
        items.append({"type": "reasoning", "summary": []})
        items.append(
            {
                "type": "function_call",
                "call_id": f"f{n}",
                "name": "bash",
                "arguments": '{"command": "echo same"}',
            }
        )
        items.append({"type": "function_call_output", "call_id": f"f{n}", "output": "same"})
    return {"input": items}


def google(calls: int) -> dict[str, Any]:
    contents: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": "go"}]}]
    for _ in range(calls):
        contents.append(
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "bash", "args": {"command": "echo same"}}}],
            }
        )
        contents.append(
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "bash", "response": {"output": "same"}}}],
            }
        )
    return {"contents": contents}


@pytest.mark.parametrize("shape", [openai_chat, anthropic, responses, google])
def test_the_run_is_everything_after_the_last_real_user_message(shape: Any) -> None:
    run = guard.run_of(shape(4))
    assert run is not None
    assert run.model_calls == 5
    assert run.repeated_tail() == (BASH, 4)
    assert guard.run_of(shape(0)).model_calls == 1  # type: ignore[union-attr]


def test_different_arguments_are_not_a_repeat_and_the_same_json_differently_spaced_is() -> None:
    mixed = guard.run_of(openai_chat(4, same=False))
    assert mixed is not None and mixed.repeated_tail()[1] == 1
    same = guard.run_of(openai_chat(4))  # half the arguments are indented
    assert same is not None and same.repeated_tail()[1] == 4


def test_a_body_without_a_user_message_is_not_guarded() -> None:
    assert guard.run_of({"messages": [{"role": "system", "content": "x"}]}) is None
    assert guard.run_of({"prompt": "legacy"}) is None


def test_repeat_rule_pauses_at_the_limit() -> None:
    assert guard.verdict(guard.run_of(openai_chat(2)), GUARD, 0, 0) is None  # type: ignore[arg-type]
    found = guard.verdict(guard.run_of(openai_chat(3)), GUARD, 0, 0)  # type: ignore[arg-type]
    assert found is not None
    assert (found.rule, found.tool, found.count, found.limit) == ("repeat", "bash", 3, 3)
    refusal = found.refusal()
    assert refusal.status == 409 and refusal.code == "loop_guard"
    assert refusal.details == {
        "rule": "repeat",
        "count": "3",
        "limit": "3",
        "tool": "bash",
        "args": '{"command":"echo same"}',
    }
    assert "the tool bash was called 3 times in a row" in refusal.message
    # Relaxed ("continue"): twice the limit.
    assert guard.verdict(guard.run_of(openai_chat(5)), GUARD, 0, 0, factor=2) is None  # type: ignore[arg-type]


def test_call_rule_counts_model_calls_in_the_run() -> None:
    relaxed = GuardSettings(True, 100, 6, 30)
    assert guard.verdict(guard.run_of(openai_chat(5, same=False)), relaxed, 0, 0) is None  # type: ignore[arg-type]
    found = guard.verdict(guard.run_of(openai_chat(6, same=False)), relaxed, 0, 0)  # type: ignore[arg-type]
    assert found is not None and (found.rule, found.count, found.limit) == ("calls", 7, 6)


def test_minutes_rule_from_the_first_time_the_run_was_seen() -> None:
    run = guard.run_of(openai_chat(1))
    assert run is not None
    assert guard.verdict(run, GUARD, 1000.0, 1000.0 + 30 * 60) is None
    found = guard.verdict(run, GUARD, 1000.0, 1000.0 + 31 * 60)
    assert found is not None and (found.rule, found.count, found.limit) == ("minutes", 31, 30)


def test_refusal_messages_avoid_what_pi_retries() -> None:
    """pi retries errors matching its transient patterns (pi-ai utils/retry.js); the
    non-retryable "quota exceeded" comes first in its test, whatever the numbers say."""
    for rule in ("repeat", "calls", "minutes"):
        message = guard.Verdict(rule, "bash", "{}", 500, 429).message()  # type: ignore[arg-type]
        assert "quota exceeded" in message
        assert "timeout" not in message.lower() and "error" not in message.lower()


@pytest.fixture
def session() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def context_of(project: Project, session: str) -> CallContext:
    upstream = Upstream("fake", "openai-completions", "http://127.0.0.1:1/v1", "sk-never")
    organisation = project.organisation
    return CallContext(
        project.pk,
        project.public_id,
        project.name,
        project.owner_id,
        organisation.pk,
        organisation.public_id,
        organisation.name,
        "fake",
        session,
        upstream,
    )


@pytest.mark.django_db
def test_admit_pauses_the_session_and_continue_relaxes_only_the_next_run(
    alice_project: Project, session: str
) -> None:
    limits.set_guard(alice_project, repeat_limit=3)
    context = context_of(alice_project, session)
    store = GuardStore(alice_project.public_id, session)
    assert admission.admit_now(context, openai_chat(2)) is None
    refusal = admission.admit_now(context, openai_chat(3))
    assert refusal is not None and refusal.code == "loop_guard"
    assert store.paused() == {"rule": "repeat", "tool": "bash", "count": 3}
    # "continue": the pause is taken once; the next new run is relaxed (limit 6).
    assert store.relax_next_run() is True
    assert store.relax_next_run() is False
    body = openai_chat(3)
    body["messages"] += [{"role": "user", "content": "Continue."}]
    assert admission.admit_now(context, body) is None  # the new run starts, relaxed
    for n in range(5):
        body["messages"] += [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": f"k{n}",
                        "function": {"name": "bash", "arguments": '{"command":"echo same"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": f"k{n}", "content": "same"},
        ]
    assert admission.admit_now(context, body) is None  # 5 < 6
    body["messages"] += body["messages"][-2:]
    again = admission.admit_now(context, body)
    assert again is not None and again.details["limit"] == "6"
    # Another project's session of the same id is untouched; stop clears everything.
    assert store.clear() is True
    assert store.paused() is None


@pytest.mark.django_db
def test_a_disabled_guard_lets_everything_go(alice_project: Project, session: str) -> None:
    limits.set_guard(alice_project, enabled=False)
    assert admission.admit_now(context_of(alice_project, session), openai_chat(50)) is None


@pytest.mark.django_db
def test_a_run_first_seen_long_ago_is_paused(alice_project: Project, session: str) -> None:
    settings = limits.guard_settings(alice_project.pk)
    body = openai_chat(1)
    assert guard.check(alice_project.public_id, session, body, settings, now=1000.0) is None
    late = guard.check(alice_project.public_id, session, body, settings, now=1000.0 + 31 * 60)
    assert late is not None and late.details["rule"] == "minutes"


@pytest.mark.django_db
def test_stale_continue_is_a_clear_409_and_others_get_404(
    alice_project: Project, alice_client: Client, bob_client: Client, session: str
) -> None:
    base = f"/api/v1/projects/{alice_project.public_id}/guard"
    stale = alice_client.post(
        f"{base}/continue", {"session_id": session}, content_type="application/json"
    )
    assert stale.status_code == 409
    assert "not paused" in stale.json()["message"]
    page = alice_client.post(
        f"/p/{alice_project.public_id}/guard/continue/",
        {"session_id": session},
        content_type="application/json",
    )
    assert page.status_code == 409
    for path in ("continue", "stop"):
        other = bob_client.post(
            f"{base}/{path}", {"session_id": session}, content_type="application/json"
        )
        assert other.status_code == 404
    bad = alice_client.post(f"{base}/stop", {"session_id": "../x"}, content_type="application/json")
    assert bad.status_code in (400, 422)


@pytest.mark.django_db
def test_guard_settings_have_bounds(alice_project: Project) -> None:
    for bad in (
        {"repeat_limit": 1},
        {"call_limit": 100000},
        {"run_minutes": 0},
        {"repeat_limit": "many"},
        {"enabled": "yes"},
    ):
        with pytest.raises(Exception) as refused:
            limits.set_guard(alice_project, **bad)
        assert getattr(refused.value, "code", "") == "invalid"
    assert limits.set_guard(alice_project, repeat_limit="7").repeat_limit == 7
