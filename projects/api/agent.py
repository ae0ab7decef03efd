"""The agent API: prompt, steer, follow up, abort, state, config, sessions (and deleting them),
commands, messages, history, trace, inspect.

Each operation finds the caller's project, counts it against the `agent` rate limit, and
calls one function of `projects.bridge.agent` (the dashboard calls the same ones), so both
entry points apply the same limits from `bridge_agent.protocol`.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router
from ninja.responses import Status as Reply

from accounts.api_auth import principal_of
from bridge_agent.protocol import SESSION_ID_PATTERN
from organisations.roles import Ability
from projects.api.rate_limit import check_rate_limit
from projects.api.schemas import (
    AbortIn,
    AcceptedOut,
    AgentDocument,
    ArchivedSessionOut,
    ArchivedSessionsOut,
    CommandsOut,
    CompactIn,
    ConfigIn,
    DeletedSessionOut,
    HistoryOut,
    NewSessionIn,
    PromptIn,
    QueueIn,
    QueueOut,
    RenameIn,
    RestoredSessionOut,
    RestoreSessionIn,
    SentOut,
    SessionNameOut,
    SessionQuery,
    SwitchIn,
)
from projects.bridge import agent
from projects.lookup import project_for_principal
from projects.models import Project
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["agent"])

# A message with images can also be refused for an image's type (415).
# 402: a monthly budget is reached (raise it, or wait for the month to turn).
SENT = responses({202: SentOut}, *SPRITE_ERRORS, 402, 415)
DOCUMENT = responses({200: AgentDocument}, *SPRITE_ERRORS)


def agent_project(
    request: HttpRequest, project_id: str, ability: Ability = Ability.VIEW
) -> Project:
    """The caller's project if its role allows `ability` (404 if not in one of its
    organisations, 403 for a weak role), after counting one `agent` request."""
    project = project_for_principal(request, project_id, ability)
    check_rate_limit("agent", principal_of(request).rate_limit_key)
    return project


def _send(request: HttpRequest, project_id: str, payload: PromptIn, mode: str) -> SentOut:
    project = agent_project(request, project_id, Ability.USE)
    images = [image.model_dump() for image in payload.images] if payload.images else None
    sent = agent.send(
        project, payload.session_id, payload.message, mode, images,
        author=principal_of(request).user,
    )  # fmt: skip
    return SentOut(ok=True, **sent)


@router.post("/{project_id}/prompt", response=SENT, summary="Send a prompt to the agent")
def prompt(request: HttpRequest, project_id: str, payload: PromptIn) -> Reply[SentOut]:
    """Starts a run; follow it on `GET /projects/{project_id}/events` until `agent_settled`
    (an `agent_end` with `willRetry: true` is followed by another attempt). A busy session
    answers 409: steer it or queue a follow-up instead. `disposition: "handled"` means no
    run started."""
    return Reply(202, _send(request, project_id, payload, "prompt"))


@router.post("/{project_id}/steer", response=SENT, summary="Steer the running agent")
def steer(request: HttpRequest, project_id: str, payload: PromptIn) -> Reply[SentOut]:
    """Delivered after the agent's current tool call; the rest of its plan is skipped."""
    return Reply(202, _send(request, project_id, payload, "steer"))


@router.post("/{project_id}/follow-up", response=SENT, summary="Queue a follow-up message")
def follow_up(request: HttpRequest, project_id: str, payload: PromptIn) -> Reply[SentOut]:
    """Delivered once the agent has finished its current run; until then it waits in the
    queue (`queue_update` events) and can be taken back with `POST .../queue/clear`."""
    return Reply(202, _send(request, project_id, payload, "follow_up"))


@router.post(
    "/{project_id}/abort",
    response=responses({200: AcceptedOut}, *SPRITE_ERRORS),
    summary="Abort the agent's run",
)
def abort(request: HttpRequest, project_id: str, payload: AbortIn) -> AcceptedOut:
    project = agent_project(request, project_id, Ability.USE)
    return AcceptedOut(ok=True, session_id=agent.abort(project, payload.session_id))


@router.post(
    "/{project_id}/queue/clear",
    response=responses({200: QueueOut}, *SPRITE_ERRORS),
    summary="Take back the queued steer and follow-up messages",
)
def clear_queue(request: HttpRequest, project_id: str, payload: QueueIn) -> QueueOut:
    """Removes every message still waiting in the session's queue and answers their texts:
    they will not be sent."""
    project = agent_project(request, project_id, Ability.USE)
    return QueueOut(**agent.clear_queue(project, payload.session_id))


@router.get("/{project_id}/state", response=DOCUMENT, summary="The agent's state")
def state(request: HttpRequest, project_id: str, query: Query[SessionQuery]) -> AgentDocument:
    """Model, thinking level and `thinking_levels` (what the model takes), whether it is
    busy or retrying, the queued messages, the session's name, the app port, the last
    event id."""
    return agent.agent_state(agent_project(request, project_id), query.session_id)


@router.post("/{project_id}/config", response=DOCUMENT, summary="Change model, thinking, app port")
def config(request: HttpRequest, project_id: str, payload: ConfigIn) -> AgentDocument:
    project = agent_project(request, project_id, Ability.USE)
    return agent.configure(
        project, payload.session_id, payload.model, payload.thinking_level, payload.app_port
    )


@router.get("/{project_id}/sessions", response=DOCUMENT, summary="List chat sessions")
def sessions(request: HttpRequest, project_id: str) -> AgentDocument:
    return agent.list_sessions(agent_project(request, project_id))


@router.post(
    "/{project_id}/sessions/new",
    response=responses({201: AcceptedOut}, *SPRITE_ERRORS),
    summary="Start a new chat session",
)
def new_session(
    request: HttpRequest, project_id: str, payload: NewSessionIn | None = None
) -> Reply[AcceptedOut]:
    """The new session becomes the current one; `name` (optional) names it."""
    name = payload.name if payload is not None else None
    session_id = agent.new_session(agent_project(request, project_id, Ability.USE), name)
    return Reply(201, AcceptedOut(ok=True, session_id=session_id))


@router.post(
    "/{project_id}/sessions/rename",
    response=responses({200: SessionNameOut}, *SPRITE_ERRORS),
    summary="Rename a chat session",
)
def rename_session(request: HttpRequest, project_id: str, payload: RenameIn) -> SessionNameOut:
    project = agent_project(request, project_id, Ability.USE)
    renamed = agent.rename_session(project, payload.session_id, payload.name)
    return SessionNameOut(ok=True, **renamed)


@router.get(
    "/{project_id}/sessions/archived",
    response=responses({200: ArchivedSessionsOut}, *SPRITE_ERRORS),
    summary="List archived (deleted) chat sessions",
)
def archived_sessions(request: HttpRequest, project_id: str) -> ArchivedSessionsOut:
    """Read-only: the traces of deleted sessions, kept in the Sprite's
    `~/.pi/archived-sessions`, newest first. Names come from the Sprite: treat them as text."""
    project = agent_project(request, project_id)
    listed = agent.archived_sessions(project)
    return ArchivedSessionsOut(archived=[ArchivedSessionOut(**entry) for entry in listed])


@router.post(
    "/{project_id}/sessions/archived/restore",
    response=responses({200: RestoredSessionOut}, *SPRITE_ERRORS),
    summary="Restore an archived (deleted) chat session",
)
def restore_session(
    request: HttpRequest, project_id: str, payload: RestoreSessionIn
) -> RestoredSessionOut:
    """The session returns to every list with its whole trace, from the Sprite's
    `~/.pi/archived-sessions` (names from `GET .../sessions/archived`). 404 for a file not
    archived; 409 when the same session, or a file of its name, is in pi's folder again.
    It becomes the current session only when there is none. Open pages get a
    `session_restored` event."""
    project = agent_project(request, project_id, Ability.USE)
    return RestoredSessionOut(ok=True, **agent.restore_session(project, payload.file))


@router.post(
    "/{project_id}/sessions/switch",
    response=responses({200: AcceptedOut}, *SPRITE_ERRORS),
    summary="Make another session the current one",
)
def switch_session(request: HttpRequest, project_id: str, payload: SwitchIn) -> AcceptedOut:
    project = agent_project(request, project_id, Ability.USE)
    return AcceptedOut(ok=True, session_id=agent.switch_session(project, payload.session_id))


@router.post("/{project_id}/sessions/compact", response=DOCUMENT, summary="Compact a session")
def compact_session(request: HttpRequest, project_id: str, payload: CompactIn) -> AgentDocument:
    """Replaces older messages with a summary written by the model (can take minutes)."""
    project = agent_project(request, project_id, Ability.USE)
    return agent.compact(project, payload.session_id, payload.instructions)


@router.get(
    "/{project_id}/commands",
    response=responses({200: CommandsOut}, *SPRITE_ERRORS),
    summary="The session's slash commands (prompt templates and skills)",
)
def commands(request: HttpRequest, project_id: str, query: Query[SessionQuery]) -> CommandsOut:
    """Prompt templates and skills kept in the Sprite (`~/.pi/agent/prompts/NAME.md`,
    `~/.pi/agent/skills/NAME/SKILL.md`), read again when they changed. Send `/name args` as
    a prompt to run one. Names and descriptions come from the Sprite: treat them as text."""
    project = agent_project(request, project_id)
    return CommandsOut(**agent.slash_commands(project, query.session_id))


@router.get("/{project_id}/messages", response=DOCUMENT, summary="A session's messages")
def messages(request: HttpRequest, project_id: str, query: Query[SessionQuery]) -> AgentDocument:
    """Only the messages; to follow on with `GET /events`, read `GET /history` instead."""
    return agent.messages(agent_project(request, project_id), query.session_id)


@router.get(
    "/{project_id}/history",
    response=responses({200: HistoryOut}, *SPRITE_ERRORS),
    summary="A session's messages and the event cursor to follow on from",
)
def history(request: HttpRequest, project_id: str, query: Query[SessionQuery]) -> HistoryOut:
    """`last_event_id` is read *before* the messages, so every event up to it is already in
    them: open `GET /events?after=<last_event_id>` next and nothing is missed (an event
    or two may arrive twice; recognise messages by role and timestamp)."""
    return HistoryOut(**agent.history(agent_project(request, project_id), query.session_id))


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
    session_id: str = Path(..., pattern=SESSION_ID_PATTERN),
) -> HttpResponse:
    # Whole, never cut: this is the audit trail (the dashboard's viewer shows the newest part).
    raw, _ = agent.trace(agent_project(request, project_id), session_id, max_bytes=None)
    return HttpResponse(raw, content_type="application/x-ndjson")


@router.get(
    "/{project_id}/inspect",
    response=DOCUMENT,
    tags=["inspect"],
    summary="What the agent recorded: integrations, services, assets",
)
def inspect(request: HttpRequest, project_id: str) -> AgentDocument:
    return agent.inspect(agent_project(request, project_id))


# Last: Django matches paths in order, and `{session_id}` would take the fixed
# `sessions/new|rename|switch|compact|archived` paths for itself (and answer them 405).
@router.delete(
    "/{project_id}/sessions/{session_id}",
    response=responses({200: DeletedSessionOut}, *SPRITE_ERRORS),
    summary="Delete (archive) a chat session",
)
def delete_session(
    request: HttpRequest,
    project_id: str,
    session_id: str = Path(..., pattern=SESSION_ID_PATTERN),
) -> DeletedSessionOut:
    """The session leaves every list; its trace moves to the Sprite's
    `~/.pi/archived-sessions` (see `GET .../sessions/archived`), never lost. 409 while the
    session runs a prompt: abort it or wait. Deleting the current session makes the most
    recent other one current. Open pages get a `session_deleted` event."""
    project = agent_project(request, project_id, Ability.USE)
    return DeletedSessionOut(ok=True, **agent.delete_session(project, session_id))
