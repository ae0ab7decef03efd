"""The terminals API: a project's interactive shells. Each operation finds the caller's
project (another person's is a 404) and calls one function of ``projects.bridge.terminals``,
as the dashboard does. A terminal's bytes go through its websocket,
``/ws/projects/{id}/terminals/{terminal_id}/`` (projects/relay/terminal.py)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema

from bridge_agent import protocol
from bridge_agent.terminals import DEFAULT_COLS, DEFAULT_ROWS
from organisations.roles import Ability
from projects.api.agent import agent_project
from projects.bridge import terminals
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["terminals"])


class TerminalIn(Schema):
    cols: int = Field(
        DEFAULT_COLS, ge=protocol.MIN_TERMINAL_SIZE, le=protocol.MAX_TERMINAL_COLS,
        description="Columns of the terminal.",
    )  # fmt: skip
    rows: int = Field(
        DEFAULT_ROWS, ge=protocol.MIN_TERMINAL_SIZE, le=protocol.MAX_TERMINAL_ROWS,
        description="Rows of the terminal.",
    )  # fmt: skip


class TerminalOut(Schema):
    id: str = Field(description="The terminal's id (16 hex digits).")
    created_at: str = Field(description="When its shell started (ISO 8601).")
    cols: int
    rows: int


class TerminalsOut(Schema):
    terminals: list[TerminalOut]


class TerminalCreatedOut(Schema):
    terminal: TerminalOut
    websocket: str = Field(
        description="Where to open its socket: binary frames are output; send input as "
        'binary frames or {"type": "input", "data": "..."}, '
        '{"type": "resize", "cols": N, "rows": N}, and {"type": "ack", "bytes": N} with '
        "the total output bytes taken so far (at most 1 MiB is sent ahead of the last ack)."
    )


class TerminalClosedOut(Schema):
    ok: bool


def socket_path(public_id: str, terminal_id: str) -> str:
    return f"/ws/projects/{public_id}/terminals/{terminal_id}/"


@router.get(
    "/{project_id}/terminals",
    response=responses({200: TerminalsOut}, *SPRITE_ERRORS),
    summary="List the project's terminals",
)
def list_terminals(request: HttpRequest, project_id: str) -> TerminalsOut:
    """The shells running in the Sprite for the workspace's terminal panels."""
    project = agent_project(request, project_id)
    found = terminals.list_terminals(project)
    return TerminalsOut(terminals=[TerminalOut.model_validate(item) for item in found])


@router.post(
    "/{project_id}/terminals",
    response=responses({201: TerminalCreatedOut}, *SPRITE_ERRORS),
    summary="Start a terminal",
)
def create_terminal(
    request: HttpRequest, project_id: str, payload: TerminalIn
) -> tuple[int, TerminalCreatedOut]:
    """A login shell in the Sprite's sandbox with the project's secrets in its environment
    (wakes a sleeping Sprite). At most 8 at once: a 409 `too_many_terminals` past that."""
    project = agent_project(request, project_id, Ability.USE)
    terminal = terminals.create_terminal(project, payload.cols, payload.rows)
    return 201, TerminalCreatedOut(
        terminal=TerminalOut.model_validate(terminal),
        websocket=socket_path(project.public_id, terminal["id"]),
    )


@router.delete(
    "/{project_id}/terminals/{terminal_id}",
    response=responses({200: TerminalClosedOut}, *SPRITE_ERRORS),
    summary="Close a terminal",
)
def close_terminal(request: HttpRequest, project_id: str, terminal_id: str) -> TerminalClosedOut:
    """Ends the terminal's shell (SIGHUP, then SIGKILL)."""
    project = agent_project(request, project_id, Ability.USE)
    terminals.close_terminal(project, terminal_id)
    return TerminalClosedOut(ok=True)
