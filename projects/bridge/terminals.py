"""A project's terminals: create, list and close the shells the workspace's terminal panels
show (``bridge_agent/terminals.py`` runs them in the Sprite's sandbox).

The dashboard and the REST API call these functions; the bytes of a terminal never pass
here but through its websocket relay (projects/relay/terminal.py). Creating a terminal wakes
a sleeping Sprite, as any request that needs it does (``call_bridge``).
"""

from __future__ import annotations

from typing import Any

from bridge_agent import protocol
from bridge_agent.terminals import DEFAULT_COLS, DEFAULT_ROWS, checked_size, valid_terminal_id
from projects.bridge.client import call_bridge
from projects.errors import BridgeError
from projects.models import Project

NO_SUCH_TERMINAL = "No such terminal; its shell may have ended."


def _terminal(value: object) -> dict[str, Any]:
    """A terminal as the bridge described it, only the fields we know, checked (the bridge
    runs in the Sprite: untrusted)."""
    if not isinstance(value, dict) or not valid_terminal_id(value.get("id")):
        raise BridgeError(502, "bridge_error", "The project's agent answered in a strange way.")
    cols, rows = value.get("cols"), value.get("rows")
    return {
        "id": value["id"],
        "created_at": str(value.get("created_at") or "")[:64],
        "cols": cols if isinstance(cols, int) and not isinstance(cols, bool) else DEFAULT_COLS,
        "rows": rows if isinstance(rows, int) and not isinstance(rows, bool) else DEFAULT_ROWS,
    }


def list_terminals(project: Project) -> list[dict[str, Any]]:
    body = call_bridge(project, "GET", protocol.TERMINALS_PATH).body
    found = body.get("terminals") if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise BridgeError(502, "bridge_error", "The project's agent answered in a strange way.")
    return [_terminal(item) for item in found[: protocol.MAX_TERMINALS]]


def create_terminal(
    project: Project, cols: int = DEFAULT_COLS, rows: int = DEFAULT_ROWS
) -> dict[str, Any]:
    """A new shell; ``ValueError`` for a size out of range, ``BridgeError`` (409
    ``too_many_terminals``) when the Sprite has as many as it may."""
    cols, rows = checked_size(cols, rows)
    body = call_bridge(
        project, "POST", protocol.TERMINALS_PATH, json_body={"cols": cols, "rows": rows}
    ).body
    return _terminal(body.get("terminal") if isinstance(body, dict) else None)


def close_terminal(project: Project, terminal_id: str) -> None:
    """End a terminal's shell; ``BridgeError`` 404 when there is no such terminal."""
    if not valid_terminal_id(terminal_id):
        raise BridgeError(404, "not_found", NO_SUCH_TERMINAL)
    call_bridge(project, "DELETE", protocol.terminal_path(terminal_id))
