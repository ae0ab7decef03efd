"""The chat's answers to a run the loop guard paused: "continue" and "stop".

Both go through the same agent commands the chat uses (``projects.bridge.agent``), so a
budget that is reached refuses "continue" like any prompt. A stale button (the run is no
longer paused) is told so with a 409, never silently ignored.
"""

from __future__ import annotations

from typing import TypedDict

from gateway.guard import GuardStore
from projects.bridge import agent
from projects.errors import ProjectError
from projects.models import Project

CONTINUE_MESSAGE = "Continue."


class RunControlOut(TypedDict):
    session_id: str
    was_paused: bool


def _session(session_id: object) -> str:
    cleaned = agent.clean_session_id(session_id)
    if not cleaned:
        raise ProjectError("Say which session's run this is (session_id).")
    return cleaned


def continue_run(project: Project, session_id: object) -> RunControlOut:
    """Relax the guard for the next run of the session and start it with "Continue."."""
    session = _session(session_id)
    store = GuardStore(project.public_id, session)
    note = store.paused()
    if note is None or not store.relax_next_run():
        raise ProjectError(
            "This run is not paused by the loop guard any more (it was continued or stopped).",
            "conflict",
        )
    try:
        agent.send(project, session, CONTINUE_MESSAGE, "prompt")
    except ProjectError:
        # Nothing started: the card's buttons still apply.
        store.restore_pause(note)
        raise
    return RunControlOut(session_id=session, was_paused=True)


def stop_run(project: Project, session_id: object) -> RunControlOut:
    """Forget the pause and abort whatever the session is running."""
    session = _session(session_id)
    was_paused = GuardStore(project.public_id, session).clear()
    agent.abort(project, session)
    return RunControlOut(session_id=session, was_paused=was_paused)
