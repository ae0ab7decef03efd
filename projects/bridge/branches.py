"""Branching commands, beside `projects.bridge.agent` and used the same way by the dashboard
and the REST API: a session's tree of messages, edit-and-resend, switching branch and
duplicating a session (the bridge's side is `bridge_agent/branches.py`).

What the bridge answers is untrusted (it runs in the Sprite): a tree is rebuilt here from
the fields it should have, with their types and lengths checked, before anyone renders it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridge_agent import protocol
from projects.bridge.agent import clean_images, clean_message, clean_session_id
from projects.bridge.client import call_bridge
from projects.errors import ProjectError
from projects.models import Project

ENTRY_ID = re.compile(protocol.ENTRY_ID_PATTERN)
MAX_INDENT = 6


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One of the user's messages in a session's tree."""

    id: str
    parent_id: str | None
    text: str
    timestamp: str | None
    message_timestamp: int | float | None
    active: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "text": self.text,
            "timestamp": self.timestamp,
            "message_timestamp": self.message_timestamp,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class OutlineRow:
    """A node as the trace panel lists it: indented once per branch point above it."""

    node: TreeNode
    depth: int
    branch_count: int  # how many branches start at this node's parent (1: no choice)

    @property
    def indent(self) -> int:
        """The depth as the page draws it (deeper levels line up at the last one)."""
        return min(self.depth, MAX_INDENT)


def clean_entry_id(value: object) -> str:
    if not isinstance(value, str) or not ENTRY_ID.match(value):
        raise ProjectError("That is not a message of this session; reload its tree.")
    return value


def _require_session(session_id: object) -> str:
    clean = clean_session_id(session_id)
    if clean is None:
        raise ProjectError("Choose a session.")
    return clean


def session_tree(project: Project, session_id: str) -> dict[str, Any]:
    """`{"session_id", "leaf_id", "truncated", "nodes": [TreeNode…]}` (nodes as JSON)."""
    clean = _require_session(session_id)
    body = call_bridge(
        project, "GET", protocol.SESSION_TREE_PATH, params={"session_id": clean}
    ).body
    return _clean_tree(body, clean)


def edit_message(
    project: Project,
    session_id: str,
    entry_id: str,
    text: str,
    images: object = None,
) -> str:
    """Send `text` in place of the user message `entry_id` (a new branch beside the old
    one) and start the run; returns the session. A working session is the bridge's 409.
    Images are checked as a prompt's are (413, 415)."""
    body: dict[str, Any] = {
        "session_id": _require_session(session_id),
        "entry_id": clean_entry_id(entry_id),
        "message": clean_message(text),
    }
    checked = clean_images(images)
    if checked:
        body["images"] = checked
    answer = call_bridge(project, "POST", protocol.SESSION_EDIT_PATH, json_body=body).body or {}
    return str(answer.get("session_id") or session_id)


def switch_branch(project: Project, session_id: str, entry_id: str) -> dict[str, Any]:
    """Show the branch through `entry_id` (its newest answer); answers the new tree."""
    clean = _require_session(session_id)
    body = call_bridge(
        project,
        "POST",
        protocol.SESSION_BRANCH_PATH,
        json_body={"session_id": clean, "entry_id": clean_entry_id(entry_id)},
    ).body
    return _clean_tree(body, clean)


def clone_session(project: Project, session_id: str) -> str:
    """A new session with the branch on screen; it becomes current. Returns its id."""
    body = call_bridge(
        project,
        "POST",
        protocol.SESSION_CLONE_PATH,
        json_body={"session_id": _require_session(session_id)},
    ).body
    clone_id = (body or {}).get("session_id") if isinstance(body, dict) else None
    if not isinstance(clone_id, str) or clean_session_id(clone_id) is None:
        raise ProjectError("The agent did not say which session the copy is.", "sprite_error")
    return clone_id


def outline(nodes: list[dict[str, Any]]) -> list[OutlineRow]:
    """The tree in reading order (parents before children, older branches first), indented
    only where a message has siblings, so a conversation without edits stays flat."""
    parsed = [_node_of(node) for node in nodes]
    known = {node.id for node in parsed}
    children: dict[str | None, list[TreeNode]] = {}
    for node in parsed:
        parent = node.parent_id if node.parent_id in known else None
        children.setdefault(parent, []).append(node)
    rows: list[OutlineRow] = []
    roots = children.get(None, [])
    stack = [(node, 1 if len(roots) > 1 else 0, len(roots)) for node in reversed(roots)]
    seen: set[str] = set()
    while stack:
        node, depth, siblings = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        rows.append(OutlineRow(node, depth, siblings))
        below = children.get(node.id, [])
        child_depth = depth + 1 if len(below) > 1 else depth
        stack.extend((child, child_depth, len(below)) for child in reversed(below))
    return rows


def _clean_tree(body: Any, session_id: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("nodes"), list):
        raise ProjectError(
            "The agent answered with something that is not a session tree.", "sprite_error"
        )
    nodes = []
    for raw in body["nodes"][-protocol.MAX_TREE_NODES :]:
        try:
            nodes.append(_node_of(raw).as_json())
        except ValueError:
            continue  # a malformed node is left out, not shown half
    leaf = body.get("leaf_id")
    return {
        "session_id": session_id,
        "leaf_id": leaf if isinstance(leaf, str) and ENTRY_ID.match(leaf) else None,
        "truncated": bool(body.get("truncated")),
        "nodes": nodes,
    }


def _node_of(raw: Any) -> TreeNode:
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    node_id, parent = raw.get("id"), raw.get("parent_id")
    if not isinstance(node_id, str) or not ENTRY_ID.match(node_id):
        raise ValueError("bad id")
    if parent is not None and (not isinstance(parent, str) or not ENTRY_ID.match(parent)):
        parent = None
    text, timestamp, sent_at = raw.get("text"), raw.get("timestamp"), raw.get("message_timestamp")
    return TreeNode(
        id=node_id,
        parent_id=parent,
        text=text[: protocol.TREE_TEXT_CHARS] if isinstance(text, str) else "",
        timestamp=timestamp[:40] if isinstance(timestamp, str) else None,
        message_timestamp=sent_at
        if isinstance(sent_at, int | float) and not isinstance(sent_at, bool)
        else None,
        active=raw.get("active") is True,
    )
