"""The branching API: a session's tree, edit-and-resend, switching branch, duplicating.

Each operation finds the caller's project (another person's is a 404), counts it against
the `agent` rate limit like the other agent operations, and calls one function of
`projects.bridge.branches`, the same ones the dashboard calls.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Path, Router
from ninja.responses import Status as Reply

from bridge_agent.protocol import SESSION_ID_PATTERN
from organisations.roles import Ability
from projects.api.agent import agent_project
from projects.api.schemas import AcceptedOut, BranchIn, EditIn, TreeOut
from projects.bridge import branches
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["agent"])

SessionPath = Path(..., pattern=SESSION_ID_PATTERN)
TREE = responses({200: TreeOut}, *SPRITE_ERRORS)


@router.get("/{project_id}/sessions/{session_id}/tree", response=TREE, summary="A session's tree")
def tree(request: HttpRequest, project_id: str, session_id: str = SessionPath) -> TreeOut:
    """Your messages with the message before each on its branch: messages with the same
    `parent_id` are branches (an edit starts one). `active` marks the branch on screen."""
    project = agent_project(request, project_id)
    return TreeOut(**branches.session_tree(project, session_id))


@router.post(
    "/{project_id}/sessions/{session_id}/edit",
    # Like a prompt, images can be refused for their type (415).
    response=responses({202: AcceptedOut}, *SPRITE_ERRORS, 415),
    summary="Edit a sent message and resend it",
)
def edit(
    request: HttpRequest, project_id: str, payload: EditIn, session_id: str = SessionPath
) -> Reply[AcceptedOut]:
    """Sends `message` in place of the message `entry_id`: a new branch starts beside the
    old one (still in the tree) and the run starts; follow it on `GET /events`. A session
    that is working answers 409; an unknown `entry_id` 404."""
    project = agent_project(request, project_id, Ability.USE)
    images = [image.model_dump() for image in payload.images] if payload.images else None
    sent_to = branches.edit_message(project, session_id, payload.entry_id, payload.message, images)
    return Reply(202, AcceptedOut(ok=True, session_id=sent_to))


@router.post("/{project_id}/sessions/{session_id}/branch", response=TREE, summary="Switch branch")
def switch(
    request: HttpRequest, project_id: str, payload: BranchIn, session_id: str = SessionPath
) -> TreeOut:
    """Shows the branch through `entry_id` (down to its newest answer); the next prompt
    continues it. Answers the tree; `GET /messages` now lists that branch."""
    project = agent_project(request, project_id, Ability.USE)
    return TreeOut(**branches.switch_branch(project, session_id, payload.entry_id))


@router.post(
    "/{project_id}/sessions/{session_id}/clone",
    response=responses({201: AcceptedOut}, *SPRITE_ERRORS),
    summary="Duplicate a session",
)
def clone(
    request: HttpRequest, project_id: str, session_id: str = SessionPath
) -> Reply[AcceptedOut]:
    """A new session holding the branch on screen; it becomes the current session. The
    original is kept as it is."""
    project = agent_project(request, project_id, Ability.USE)
    return Reply(201, AcceptedOut(ok=True, session_id=branches.clone_session(project, session_id)))
