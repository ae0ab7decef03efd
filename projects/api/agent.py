"""The agent API: prompt, steer, follow up, abort, state, config, sessions, messages, trace,
inspect. Each operation relays one request to the project's bridge through `call_bridge`
(which wakes a sleeping Sprite) and answers the bridge's JSON as it is.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router
from ninja.responses import Status as Reply
from pydantic import BaseModel

from accounts.api_auth import principal_of
from projects.api.rate_limit import check_rate_limit
from projects.api.schemas import (
    AbortIn,
    AcceptedOut,
    AgentDocument,
    CompactIn,
    ConfigIn,
    PromptIn,
    SessionQuery,
    SwitchIn,
)
from projects.bridge.client import TIMEOUT, BridgeResponse, call_bridge
from projects.lookup import project_for_principal
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["agent"])

SESSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
# Compaction asks the model for a summary of the whole conversation.
COMPACT_TIMEOUT = httpx.Timeout(180.0, connect=5.0)


def relay(
    request: HttpRequest,
    project_id: str,
    method: str,
    path: str,
    payload: BaseModel | None = None,
    *,
    params: dict[str, str] | None = None,
    timeout: httpx.Timeout = TIMEOUT,
) -> BridgeResponse:
    """One bridge request for the caller's project; unset optional fields are left out."""
    project = project_for_principal(request, project_id)
    check_rate_limit("agent", principal_of(request).rate_limit_key)
    body = payload.model_dump(exclude_none=True) if payload is not None else None
    return call_bridge(project, method, path, json_body=body, params=params, timeout=timeout)


def _session_params(session_id: str | None) -> dict[str, str] | None:
    return {"session_id": session_id} if session_id is not None else None


ACCEPTED = responses({202: AcceptedOut}, *SPRITE_ERRORS)
DOCUMENT = responses({200: AgentDocument}, *SPRITE_ERRORS)


@router.post("/{project_id}/prompt", response=ACCEPTED, summary="Send a prompt to the agent")
def prompt(request: HttpRequest, project_id: str, payload: PromptIn) -> Reply[AcceptedOut]:
    """Starts a run; follow it on `GET /projects/{project_id}/events`. A busy session
    answers 409: steer it or queue a follow-up instead."""
    answer = relay(request, project_id, "POST", "/starter/prompt", payload)
    return Reply(202, AcceptedOut(**answer.body))


@router.post("/{project_id}/steer", response=ACCEPTED, summary="Steer the running agent")
def steer(request: HttpRequest, project_id: str, payload: PromptIn) -> Reply[AcceptedOut]:
    """Delivered after the agent's current tool call; the rest of its plan is skipped."""
    answer = relay(request, project_id, "POST", "/starter/steer", payload)
    return Reply(202, AcceptedOut(**answer.body))


@router.post("/{project_id}/follow-up", response=ACCEPTED, summary="Queue a follow-up message")
def follow_up(request: HttpRequest, project_id: str, payload: PromptIn) -> Reply[AcceptedOut]:
    """Delivered once the agent has finished its current run."""
    answer = relay(request, project_id, "POST", "/starter/follow-up", payload)
    return Reply(202, AcceptedOut(**answer.body))


@router.post(
    "/{project_id}/abort",
    response=responses({200: AcceptedOut}, *SPRITE_ERRORS),
    summary="Abort the agent's run",
)
def abort(request: HttpRequest, project_id: str, payload: AbortIn) -> AcceptedOut:
    answer = relay(request, project_id, "POST", "/starter/abort", payload)
    return AcceptedOut(**answer.body)


@router.get("/{project_id}/state", response=DOCUMENT, summary="The agent's state")
def state(
    request: HttpRequest,
    project_id: str,
    query: Query[SessionQuery],
) -> AgentDocument:
    """Model, thinking level, whether it is busy, the app port, the last event id."""
    return dict(
        relay(
            request, project_id, "GET", "/starter/state", params=_session_params(query.session_id)
        ).body
    )


@router.post("/{project_id}/config", response=DOCUMENT, summary="Change model, thinking, app port")
def config(request: HttpRequest, project_id: str, payload: ConfigIn) -> AgentDocument:
    return dict(relay(request, project_id, "POST", "/starter/config", payload).body)


@router.get("/{project_id}/sessions", response=DOCUMENT, summary="List chat sessions")
def sessions(request: HttpRequest, project_id: str) -> AgentDocument:
    return dict(relay(request, project_id, "GET", "/starter/sessions").body)


@router.post(
    "/{project_id}/sessions/new",
    response=responses({201: AcceptedOut}, *SPRITE_ERRORS),
    summary="Start a new chat session",
)
def new_session(request: HttpRequest, project_id: str) -> Reply[AcceptedOut]:
    answer = relay(request, project_id, "POST", "/starter/sessions/new")
    return Reply(201, AcceptedOut(**answer.body))


@router.post(
    "/{project_id}/sessions/switch",
    response=responses({200: AcceptedOut}, *SPRITE_ERRORS),
    summary="Make another session the current one",
)
def switch_session(request: HttpRequest, project_id: str, payload: SwitchIn) -> AcceptedOut:
    answer = relay(request, project_id, "POST", "/starter/sessions/switch", payload)
    return AcceptedOut(**answer.body)


@router.post("/{project_id}/sessions/compact", response=DOCUMENT, summary="Compact a session")
def compact_session(request: HttpRequest, project_id: str, payload: CompactIn) -> AgentDocument:
    """Replaces older messages with a summary written by the model (can take a while)."""
    return dict(
        relay(
            request,
            project_id,
            "POST",
            "/starter/sessions/compact",
            payload,
            timeout=COMPACT_TIMEOUT,
        ).body
    )


@router.get("/{project_id}/messages", response=DOCUMENT, summary="A session's messages")
def messages(
    request: HttpRequest,
    project_id: str,
    query: Query[SessionQuery],
) -> AgentDocument:
    return dict(
        relay(
            request,
            project_id,
            "GET",
            "/starter/messages",
            params=_session_params(query.session_id),
        ).body
    )


@router.get(
    "/{project_id}/sessions/{session_id}/trace",
    response=responses({}, *SPRITE_ERRORS),
    openapi_extra={
        "responses": {
            "200": {
                "description": "pi's raw session log, one JSON object a line (the audit trail).",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    },
    summary="A session's raw trace (JSON lines)",
)
def trace(
    request: HttpRequest,
    project_id: str,
    session_id: str = Path(..., pattern=SESSION_PATTERN),
) -> HttpResponse:
    answer = relay(
        request, project_id, "GET", f"/starter/sessions/{quote(session_id, safe='')}/trace"
    )
    return HttpResponse(answer.raw, content_type="application/x-ndjson")


@router.get(
    "/{project_id}/inspect",
    response=DOCUMENT,
    tags=["inspect"],
    summary="What the agent recorded: integrations, services, assets",
)
def inspect(request: HttpRequest, project_id: str) -> AgentDocument:
    return dict(relay(request, project_id, "GET", "/starter/inspect").body)
