"""The session tree as the control plane takes it from a bridge (untrusted) and lays it out
for the trace panel."""

from __future__ import annotations

from typing import Any

import pytest

from bridge_agent import protocol
from projects.bridge.branches import _clean_tree, clean_entry_id, outline
from projects.errors import ProjectError


def node(node_id: str, parent: str | None, active: bool = False, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "parent_id": parent, "text": node_id, "active": active, **extra}


def test_a_conversation_without_edits_stays_flat_and_an_edit_indents_its_branches() -> None:
    rows = outline(
        [
            node("a1", None, True),
            node("b1", "a1"),
            node("c1", "b1"),
            node("b2", "a1", True),
            node("c2", "b2", True),
        ]
    )
    assert [(row.node.id, row.depth, row.branch_count) for row in rows] == [
        ("a1", 0, 1),
        ("b1", 1, 2),
        ("c1", 1, 1),
        ("b2", 1, 2),
        ("c2", 1, 1),
    ]


def test_deep_branching_is_drawn_at_most_max_indent_deep_and_without_recursion() -> None:
    nodes = [node("r", None)]
    parent = "r"
    for level in range(3000):  # a long, much-edited session: no recursion limit is hit
        nodes += [node(f"x{level}", parent), node(f"y{level}", parent)]
        parent = f"y{level}"
    rows = outline(nodes)
    assert len(rows) == len(nodes)
    assert max(row.depth for row in rows) == 3000
    assert max(row.indent for row in rows) == 6


def test_what_a_bridge_sends_is_checked_before_anyone_renders_it() -> None:
    body = {
        "leaf_id": "<script>",
        "truncated": "yes",
        "nodes": [
            "not a node",
            {"id": "../../etc", "text": "bad id"},
            {"id": "ok1", "parent_id": "<b>", "text": "x" * 10_000, "active": "true"},
            {
                "id": "ok2",
                "parent_id": "ok1",
                "text": 42,
                "timestamp": True,
                "message_timestamp": True,
                "active": True,
            },
        ],
    }
    tree = _clean_tree(body, "session-1")
    assert tree["leaf_id"] is None and tree["truncated"] is True
    assert [n["id"] for n in tree["nodes"]] == ["ok1", "ok2"]
    first, second = tree["nodes"]
    assert first["parent_id"] is None and first["active"] is False
    assert len(first["text"]) == protocol.TREE_TEXT_CHARS
    assert second["text"] == "" and second["timestamp"] is None
    assert second["message_timestamp"] is None and second["active"] is True


def test_an_answer_that_is_not_a_tree_is_a_clear_error() -> None:
    with pytest.raises(ProjectError, match="not a session tree") as caught:
        _clean_tree(["nodes"], "session-1")
    assert caught.value.code == "sprite_error"


@pytest.mark.parametrize("bad", [None, "", "a b", "<img>", "x" * 65, 12345678])
def test_a_malformed_entry_id_is_refused(bad: object) -> None:
    with pytest.raises(ProjectError, match="not a message of this session"):
        clean_entry_id(bad)
