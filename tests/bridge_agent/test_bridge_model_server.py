"""The scripted model server picks replies from the conversation it is sent."""

from __future__ import annotations

import json

import httpx

from tests.support.model_server import ScriptedModelServer, choose_reply

TOOLS = [{"type": "function", "function": {"name": "bash"}}]


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def test_markers_pick_tool_calls_in_order_then_a_final_text() -> None:
    text = '[[bash: echo one]] [[tool: notify_dashboard {"message": "hi"}]]'
    first = choose_reply({"tools": TOOLS, "messages": [user(text)]})
    assert (first.tool_name, first.tool_args) == ("bash", {"command": "echo one"})
    after_first = [
        user(text),
        {"role": "assistant", "tool_calls": [{"id": "c1"}]},
        {"role": "tool", "content": "one\n"},
    ]
    second = choose_reply({"tools": TOOLS, "messages": after_first})
    assert (second.tool_name, second.tool_args) == ("notify_dashboard", {"message": "hi"})
    after_second = [
        *after_first,
        {"role": "assistant", "tool_calls": [{"id": "c2"}]},
        {"role": "tool", "content": "notified"},
    ]
    assert choose_reply({"tools": TOOLS, "messages": after_second}).text == "Done. notified"


def test_requests_without_tools_are_compactions() -> None:
    reply = choose_reply({"messages": [user("[[bash: ls]]")]})
    assert reply.text.startswith("SUMMARY:")


def test_plain_reply_slow_and_fail_markers() -> None:
    assert choose_reply({"tools": TOOLS, "messages": [user("hello")]}).text == (
        "Scripted answer: hello"
    )
    assert choose_reply({"tools": TOOLS, "messages": [user("[[reply: exact]]")]}).text == "exact"
    assert choose_reply({"tools": TOOLS, "messages": [user("[[slow: 7]]")]}).slow_chunks == 7
    assert choose_reply({"tools": TOOLS, "messages": [user("[[fail: 503]]")]}).fail_status == 503


def test_server_streams_openai_chunks_and_records_requests() -> None:
    with ScriptedModelServer() as server:
        body = {
            "model": "fake-model",
            "stream": True,
            "tools": TOOLS,
            "messages": [user("[[reply: streamed words]]")],
        }
        response = httpx.post(f"{server.base_url}/chat/completions", json=body)
        chunks = [
            json.loads(line[6:])
            for line in response.text.splitlines()
            if line.startswith("data: {")
        ]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == "streamed words"
        assert response.text.rstrip().endswith("data: [DONE]")
        assert server.requests[-1]["messages"][0]["content"] == "[[reply: streamed words]]"


def test_a_server_with_a_key_refuses_requests_without_it_and_records_every_key() -> None:
    body = {"model": "fake-model", "stream": True, "tools": TOOLS, "messages": [user("hi")]}
    with ScriptedModelServer(api_key="sk-the-value") as server:
        url = f"{server.base_url}/chat/completions"
        assert httpx.post(url, json=body).status_code == 401
        wrong = {"Authorization": "Bearer STARTER_PROVIDER_KEY_X"}
        assert httpx.post(url, json=body, headers=wrong).status_code == 401
        bearer = {"Authorization": "Bearer sk-the-value"}
        assert httpx.post(url, json=body, headers=bearer).status_code == 200
        assert httpx.post(url, json=body, headers={"x-api-key": "sk-the-value"}).status_code == 200
        assert server.keys == [None, "STARTER_PROVIDER_KEY_X", "sk-the-value", "sk-the-value"]
        assert len(server.requests) == 4
