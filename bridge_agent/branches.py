"""Branching: a session's tree, edit-and-resend, switching branch, duplicating a session.

pi 1.6 keeps a session as a tree of entries (``id``/``parentId``) in one file; the messages
pi sends the model are the path from the root to the current *leaf*. Editing a sent message
is moving the leaf to that message's parent and prompting the new text: the new message
starts a second branch beside the old one, in the same file, and ``get_entries`` lists both.

pi has no RPC command that moves the leaf (its terminal UI does it with ``/tree``), so the
starter extension registers ``/starter-branch <entryId>`` (``protocol.BRANCH_COMMAND``),
which calls ``ctx.navigateTree`` and then writes a context-free custom entry at the new
leaf: pi reopens a file with the leaf on its last entry, so without it an idle session that
pi restarts would come back on whichever branch was written last. The bridge sends the
command as a ``prompt`` only after ``get_commands`` shows it (otherwise the text would go to
the model as a message), then reads where the leaf went, because a failing command still
answers ``success`` (its error is a separate ``extension_error`` event).

Why not pi's ``fork``: it copies the path before a message into a *new* session file, so
every edit would be another session in the picker and the branches of one conversation
would be spread over files (``get_tree`` shows one file). ``clone`` is used as it is: a
new session holding the branch on screen.

The tree is read with ``get_entries`` (a flat list in append order), not ``get_tree``: that
one nests a level per entry, and Python's JSON decoder gives up at a depth of a few
hundred, which a long session reaches.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge_agent import protocol
from bridge_agent.errors import ApiError
from bridge_agent.inputs import json_object, optional_images, required_text, session_id_from
from bridge_agent.pi_events import is_system_message
from bridge_agent.pi_process import PiError
from bridge_agent.runtime import BridgeRuntime
from bridge_agent.sessions import LiveSession, SessionBusy, SessionError, SessionManager

ENTRY_ID = re.compile(protocol.ENTRY_ID_PATTERN)


class EntryNotFound(SessionError):
    status = 404
    code = "unknown_entry"


class BranchConflict(SessionError):
    status = 409
    code = "branch_conflict"


# One navigation at a time per live session: two switches racing would each check a leaf
# the other one moves.
_locks: weakref.WeakKeyDictionary[LiveSession, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock_of(live: LiveSession) -> asyncio.Lock:
    lock = _locks.get(live)
    if lock is None:
        lock = _locks[live] = asyncio.Lock()
    return lock


def message_text(message: Any) -> str:
    """The text parts of a message's content (a string, or ``[{"type": "text"}, …]``)."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )


def is_user_message(entry: dict[str, Any]) -> bool:
    message = entry.get("message")
    return (
        entry.get("type") == "message"
        and isinstance(message, dict)
        and message.get("role") == "user"
    )


def _is_anchor(entry: dict[str, Any]) -> bool:
    return entry.get("type") == "custom" and entry.get("customType") == protocol.BRANCH_COMMAND


def _can_be_leaf(entry: dict[str, Any]) -> bool:
    """Where a switch may put the leaf: pi treats a user or custom message as "edit this"
    (the leaf goes to its parent); the extension's own anchors and labels show nothing."""
    kind = entry.get("type")
    if kind == "message":
        return not is_user_message(entry) and not is_system_message(entry.get("message"))
    return kind in {"compaction", "branch_summary"}


@dataclass(frozen=True, slots=True)
class SessionEntries:
    """A session's entries as ``get_entries`` lists them (append order) and its leaf."""

    entries: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]
    leaf_id: str | None

    @classmethod
    def of(cls, data: dict[str, Any]) -> SessionEntries:
        entries = [
            entry
            for entry in data.get("entries") or []
            if isinstance(entry, dict) and isinstance(entry.get("id"), str)
        ]
        leaf = data.get("leafId")
        return cls(
            entries,
            {entry["id"]: entry for entry in entries},
            leaf if isinstance(leaf, str) else None,
        )

    def parent_of(self, entry_id: str) -> str | None:
        parent = self.by_id[entry_id].get("parentId")
        return (
            parent
            if isinstance(parent, str) and parent in self.by_id and parent != entry_id
            else None
        )

    def path_to(self, entry_id: str | None) -> list[str]:
        """The ids from the root down to ``entry_id`` (a broken or looping chain ends)."""
        path: list[str] = []
        seen: set[str] = set()
        current = entry_id if entry_id in self.by_id else None
        while current is not None and current not in seen:
            seen.add(current)
            path.append(current)
            current = self.parent_of(current)
        path.reverse()
        return path

    def leaf_is_on(self, entry_id: str | None) -> bool:
        """Whether the leaf is ``entry_id`` or the extension's anchor right below it (then
        the messages are the path to ``entry_id``)."""
        leaf = self.by_id.get(self.leaf_id or "")
        if leaf is None:
            return entry_id is None
        return leaf["id"] == entry_id or (
            _is_anchor(leaf) and self.parent_of(leaf["id"]) == entry_id
        )

    def subtree(self, entry_id: str) -> set[str]:
        children: dict[str, list[str]] = {}
        for entry in self.entries:
            parent = self.parent_of(entry["id"])
            if parent is not None:
                children.setdefault(parent, []).append(entry["id"])
        found: set[str] = set()
        stack = [entry_id]
        while stack:
            current = stack.pop()
            if current in found:
                continue
            found.add(current)
            stack.extend(children.get(current, ()))
        return found

    def tip_of(self, entry_id: str) -> str | None:
        """The newest entry under ``entry_id`` (itself included) that a switch can land on:
        the end of the most recent conversation down that branch."""
        below = self.subtree(entry_id)
        for entry in reversed(self.entries):
            if entry["id"] in below and _can_be_leaf(entry):
                return str(entry["id"])
        return None


def session_tree(session_id: str, entries: SessionEntries) -> dict[str, Any]:
    """The session as a tree of *your* messages: each user message, its parent (the user
    message before it on its branch), and whether it is on the branch pi is on now.

    Sibling messages are the branches (an edit starts one). Texts are cut to
    ``TREE_TEXT_CHARS``; at most ``MAX_TREE_NODES`` nodes, the newest.
    """
    active = set(entries.path_to(entries.leaf_id))
    # The nearest user message above each entry, in append order (a parent comes first).
    user_above: dict[str, str | None] = {}
    nodes: list[dict[str, Any]] = []
    for entry in entries.entries:
        entry_id = entry["id"]
        parent = entries.parent_of(entry_id)
        above = None if parent is None else user_above.get(parent)
        if is_user_message(entry):
            message = entry["message"]
            timestamp = message.get("timestamp")
            nodes.append(
                {
                    "id": entry_id,
                    "parent_id": above,
                    "text": message_text(message)[: protocol.TREE_TEXT_CHARS],
                    "timestamp": entry.get("timestamp")
                    if isinstance(entry.get("timestamp"), str)
                    else None,
                    "message_timestamp": timestamp if isinstance(timestamp, int | float) else None,
                    "active": entry_id in active,
                }
            )
            user_above[entry_id] = entry_id
        else:
            user_above[entry_id] = above
    kept = nodes[-protocol.MAX_TREE_NODES :]
    kept_ids = {node["id"] for node in kept}
    for node in kept:
        if node["parent_id"] not in kept_ids:
            node["parent_id"] = None
    return {
        "session_id": session_id,
        "leaf_id": entries.leaf_id,
        "truncated": len(kept) < len(nodes),
        "nodes": kept,
    }


class Branches:
    """The branching commands of one bridge, on top of its ``SessionManager``."""

    def __init__(self, runtime: BridgeRuntime) -> None:
        self.sessions: SessionManager = runtime.sessions
        self.log = runtime.log

    async def tree(self, session_id: str | None) -> dict[str, Any]:
        live = await self.sessions.session(session_id)
        return session_tree(live.session_id, await self._entries(live))

    async def edit(
        self, session_id: str | None, entry_id: str, message: str, images: list[Any] | None
    ) -> LiveSession:
        """Send ``message`` in place of the user message ``entry_id``: a new branch from
        that message's parent. The old branch stays in the tree."""
        live = await self.sessions.session(session_id)
        async with _lock_of(live):
            self._refuse_if_busy(live, "editing a message")
            entries = await self._entries(live)
            entry = self._find(entries, entry_id)
            if not is_user_message(entry):
                raise SessionError(
                    f"Entry {entry_id} is not one of your messages; only those can be edited."
                )
            await self._navigate(live, entry_id, entries.parent_of(entry_id), "edit")
            edited, _ = await self.sessions.prompt(live.session_id, message, images)
            return edited

    async def switch(self, session_id: str | None, entry_id: str) -> dict[str, Any]:
        """Move to the branch through ``entry_id``: to the newest answer under it."""
        live = await self.sessions.session(session_id)
        async with _lock_of(live):
            self._refuse_if_busy(live, "switching branch")
            entries = await self._entries(live)
            self._find(entries, entry_id)
            tip = entries.tip_of(entry_id)
            if tip is None:
                raise BranchConflict(
                    f"Nothing was answered after entry {entry_id}, so there is no branch to show;"
                    " edit the message to send it again."
                )
            if not entries.leaf_is_on(tip):
                await self._navigate(live, tip, tip, "switch")
            return session_tree(live.session_id, await self._entries(live))

    async def clone(self, session_id: str | None) -> LiveSession:
        """A new session holding this session's current branch (pi's ``clone``); it becomes
        the current session, and the original's file stays as it was."""
        live = await self.sessions.session(session_id)
        async with _lock_of(live):
            self._refuse_if_busy(live, "duplicating it")
            try:
                answer = await self.sessions.request(live, {"type": "clone"})
            except PiError as error:
                raise BranchConflict(
                    f"pi cannot duplicate this session: {error.message}"
                ) from error
            if answer.get("cancelled"):
                raise BranchConflict("An extension in the Sprite cancelled the duplication.")
            state = await self.sessions.request(live, {"type": "get_state"})
            new_id = state.get("sessionId")
            if not isinstance(new_id, str) or new_id == live.session_id:
                raise BranchConflict("pi did not report the duplicated session.")
            file_value = state.get("sessionFile")
            self.sessions.moved_to(
                live, Path(file_value) if isinstance(file_value, str) else None, new_id
            )
        return live

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _refuse_if_busy(live: LiveSession, doing: str) -> None:
        if live.busy:
            raise SessionBusy(
                f"Session {live.session_id} is working; stop it or wait before {doing}."
            )

    async def _entries(self, live: LiveSession) -> SessionEntries:
        data = await self.sessions.request(live, {"type": "get_entries"})
        return SessionEntries.of(data)

    @staticmethod
    def _find(entries: SessionEntries, entry_id: str) -> dict[str, Any]:
        entry = entries.by_id.get(entry_id)
        if entry is None:
            # pi's own words for an id it does not have.
            raise EntryNotFound(f"Entry not found: {entry_id}")
        return entry

    async def _navigate(
        self, live: LiveSession, target: str, lands_on: str | None, reason: str
    ) -> None:
        """Run the extension's command to move the leaf to ``target``, then check that it
        is on ``lands_on`` (pi moves to a user message's parent) or the anchor below it."""
        commands = await self.sessions.request(live, {"type": "get_commands"})
        names = {c.get("name") for c in commands.get("commands") or [] if isinstance(c, dict)}
        if protocol.BRANCH_COMMAND not in names:
            raise SessionError(
                "This agent cannot switch branches: its Starter extension is missing or older"
                " than this bridge. Restart the project's machine to update it."
            )
        before = self.log.last_id
        await self.sessions.request(
            live, {"type": "prompt", "message": f"/{protocol.BRANCH_COMMAND} {target}"}
        )
        after = await self._entries(live)
        moved = after.leaf_is_on(lands_on)
        if not moved:
            raise BranchConflict(
                "The agent did not move to that message"
                f"{self._command_error(live, before)}; try again once it is idle."
            )
        self.log.append(
            protocol.EVENT_BRANCH_CHANGED,
            {"leaf_id": after.leaf_id, "entry_id": target, "reason": reason},
            live.session_id,
        )

    def _command_error(self, live: LiveSession, since: int) -> str:
        """pi's reason, from the ``extension_error`` the command left in the log."""
        for event in reversed(self.log.events_after(since)):
            if (
                event.session_id == live.session_id
                and event.type == protocol.EVENT_ERROR
                and event.data.get("extensionPath") == f"command:{protocol.BRANCH_COMMAND}"
            ):
                return f" ({event.data.get('error')})"
        return ""


# -- endpoints ----------------------------------------------------------------------------


def _branches(request: Request) -> Branches:
    runtime: BridgeRuntime = request.app.state.runtime
    return Branches(runtime)


def _entry_id(body: dict[str, Any]) -> str:
    value = body.get("entry_id")
    if not isinstance(value, str) or not ENTRY_ID.match(value):
        raise ApiError(
            400, "invalid_field", "'entry_id' must be an entry id from the session's tree."
        )
    return value


async def tree(request: Request) -> Response:
    return JSONResponse(await _branches(request).tree(session_id_from(request)))


async def edit(request: Request) -> Response:
    body = await json_object(request)
    live = await _branches(request).edit(
        session_id_from(request, body),
        _entry_id(body),
        required_text(body, "message"),
        optional_images(body),
    )
    return JSONResponse({"ok": True, "session_id": live.session_id}, status_code=202)


async def switch(request: Request) -> Response:
    body = await json_object(request)
    return JSONResponse(
        await _branches(request).switch(session_id_from(request, body), _entry_id(body))
    )


async def clone(request: Request) -> Response:
    body = await json_object(request)
    live = await _branches(request).clone(session_id_from(request, body))
    return JSONResponse({"ok": True, "session_id": live.session_id}, status_code=201)


routes = [
    Route(protocol.SESSION_TREE_PATH, tree, methods=["GET"]),
    Route(protocol.SESSION_EDIT_PATH, edit, methods=["POST"]),
    Route(protocol.SESSION_BRANCH_PATH, switch, methods=["POST"]),
    Route(protocol.SESSION_CLONE_PATH, clone, methods=["POST"]),
]
