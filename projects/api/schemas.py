"""Request and response bodies of the projects API (``XIn`` in, ``XOut`` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from ninja import Field, Schema
from pydantic import AfterValidator, BaseModel

from bridge_agent.protocol import (
    ARCHIVED_FILE_PATTERN,
    ENTRY_ID_PATTERN,
    IMAGE_MIME_TYPES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_MESSAGE_CHARS,
    MAX_SESSION_NAME_CHARS,
    MAX_TREE_NODES,
    SESSION_ID_PATTERN,
    TREE_TEXT_CHARS,
    CommandSource,
    PromptDisposition,
    ServiceStatus,
    ServiceType,
    ThinkingLevel,
)
from projects.models import Project, Status, validate_project_name
from projects.sprite.commands import DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS


def _no_control_characters(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no name or message needs control characters.
    if any(ord(character) < 32 and character not in "\t\n\r" for character in value):
        raise ValueError("must not contain NUL or other control characters")
    return value


def _visible_project_name(value: str) -> str:
    # Checked as clean_name will store it (whitespace collapsed), so a tab is still a space.
    try:
        validate_project_name(" ".join(value.split()))
    except ValidationError as error:
        raise ValueError(error.messages[0]) from error
    return value


PlainText = Annotated[str, AfterValidator(_no_control_characters)]
ProjectName = Annotated[PlainText, AfterValidator(_visible_project_name)]
SessionId = Annotated[str, Field(pattern=SESSION_ID_PATTERN)]


class Input(BaseModel):
    """A request body. Plain pydantic, not ninja's Schema: that one also accepts any object
    (reading fields as attributes), so a JSON array would pass as an empty body."""


# -- projects -----------------------------------------------------------------------


class ProgressOut(Schema):
    step: str
    done: int
    total: int


# An organisation's public id (16 hex digits, organisations.models), as its API gives it.
OrganisationId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class ProjectOut(Schema):
    id: str
    organisation: str = Field(description="The id of the organisation the project is in.")
    name: str
    description: str
    status: Status
    status_message: str
    progress: ProgressOut
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime

    @staticmethod
    def of(project: Project) -> ProjectOut:
        return ProjectOut(
            id=project.public_id,
            organisation=project.organisation.public_id,
            name=project.name,
            description=project.description,
            status=Status(project.status),
            status_message=project.status_message,
            progress=ProgressOut(
                step=project.progress_step,
                done=project.progress_done,
                total=project.progress_total,
            ),
            created_at=project.created_at,
            updated_at=project.updated_at,
            last_activity_at=project.last_activity_at,
        )


class ProjectFilters(Schema):
    status: Status | None = Field(None, description="Only projects in this status.")
    organisation: OrganisationId | None = Field(
        None, description="Only this organisation's projects (default: all of yours)."
    )
    limit: int = Field(50, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)


class ProjectPage(Schema):
    items: list[ProjectOut]
    count: int = Field(description="Projects matching the filter, on every page.")
    limit: int
    offset: int


class ProjectIn(Input):
    name: ProjectName = Field(max_length=100, examples=["Sales dashboard"])
    description: PlainText = Field("", max_length=2000)
    organisation: OrganisationId | None = Field(
        None,
        description="The organisation to create it in (the member role or higher is "
        "needed); default: the token's organisation if it is limited to one, else your "
        "personal organisation.",
    )


class ProjectPatchIn(Input):
    name: ProjectName | None = Field(None, max_length=100)
    description: PlainText | None = Field(None, max_length=2000)


class LifecycleOut(Schema):
    status: Status = Field(description="The project's status once the action was accepted.")
    task_id: str = Field(description="The id of the Celery task that carries the action out.")


# -- secrets and checkpoints -------------------------------------------------------------


class SecretOut(Schema):
    name: str
    created_at: datetime
    updated_at: datetime


class SecretIn(Input):
    value: str = Field(description="Write-only: never shown again.", min_length=1)


class CheckpointOut(Schema):
    id: str
    comment: str
    created_at: datetime


class CheckpointIn(Input):
    comment: PlainText = Field("", max_length=200)


class RestoredOut(Schema):
    restored: str
    status: Status


# -- commands and files -----------------------------------------------------------------


class ExecIn(Input):
    command: str | list[str] = Field(
        description="A shell command (run with bash -c) or an argv list.",
        examples=["ls -la", ["python3", "--version"]],
    )
    timeout: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0, le=MAX_TIMEOUT_SECONDS)


class ExecOut(Schema):
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool = Field(description="True when stdout or stderr was cut to 1 MiB.")
    duration_seconds: float


class FileEntryOut(Schema):
    name: str
    path: str
    is_dir: bool
    size: int
    modified_at: datetime | None


class DirectoryOut(Schema):
    path: str
    entries: list[FileEntryOut]


Encoding = Literal["text", "base64"]


class FileContentOut(Schema):
    path: str
    encoding: Encoding = Field(description="'text' (UTF-8) or 'base64' for other bytes.")
    content: str
    size: int


class FileWriteIn(Input):
    path: str = Field(examples=["notes/todo.md"])
    content: str
    encoding: Encoding = "text"


class FileWrittenOut(Schema):
    path: str
    size: int


# -- the agent ----------------------------------------------------------------------------


class ImageIn(Input):
    data: str = Field(
        description=f"Base64 image bytes, at most {MAX_IMAGE_BYTES // (1024 * 1024)} MiB."
    )
    mimeType: str = Field(  # pi's field name
        examples=["image/png"],
        description=f"One of {', '.join(IMAGE_MIME_TYPES)} (never SVG); the bytes must match.",
    )


class PromptIn(Input):
    message: str = Field(
        min_length=1,
        max_length=MAX_MESSAGE_CHARS,
        description="Text for the agent. `/name args` runs a prompt template or skill of "
        "the Sprite (see `GET /projects/{project_id}/commands`); pi expands it.",
    )
    images: list[ImageIn] | None = Field(
        None,
        description=f"Up to {MAX_IMAGES} images. Too large: 413; a type that is not allowed, "
        "or bytes that are not the type they claim: 415. A model without image input gets "
        "a placeholder text instead.",
    )
    session_id: SessionId | None = None


class CommandOut(Schema):
    name: str = Field(description="Send `/<name> args` as a message to run it.")
    description: str = Field(description="From a file in the Sprite: untrusted text.")
    source: CommandSource = Field(
        description="`prompt`: a prompt template; `skill`: a skill (`skill:<name>`); "
        "`extension`: an extension command."
    )


class CommandsOut(Schema):
    session_id: str | None
    commands: list[CommandOut]


class SessionQuery(Schema):
    session_id: SessionId | None = Field(None, description="Default: the current session.")


class AbortIn(Input):
    session_id: SessionId | None = None


class ConfigIn(Input):
    model: str | None = Field(None, examples=["anthropic/claude-sonnet-4-5"])
    thinking_level: ThinkingLevel | None = None
    app_port: int | None = Field(None, ge=1, le=65535)
    session_id: SessionId | None = None


class SwitchIn(Input):
    session_id: SessionId


class CompactIn(Input):
    session_id: SessionId | None = None
    instructions: str | None = Field(None, max_length=20_000)


class NewSessionIn(Input):
    name: PlainText | None = Field(
        None,
        max_length=MAX_SESSION_NAME_CHARS,
        description="A display name; kept as one line of plain text.",
        examples=["Checkout redesign"],
    )


class RenameIn(Input):
    session_id: SessionId | None = Field(None, description="Default: the current session.")
    name: PlainText = Field(max_length=MAX_SESSION_NAME_CHARS, examples=["Checkout redesign"])


class QueueIn(Input):
    session_id: SessionId | None = Field(None, description="Default: the current session.")


class AcceptedOut(Schema):
    ok: bool
    session_id: str


class SentOut(AcceptedOut):
    disposition: PromptDisposition = Field(
        description="What the agent did with the message: 'started' a run, 'queued' it behind "
        "the running one, or 'handled' it without a run (an extension command took it: "
        "no run events follow)."
    )


class QueueOut(Schema):
    session_id: str
    steering: list[str] = Field(description="Steer messages taken back, oldest first.")
    follow_up: list[str] = Field(description="Follow-up messages taken back, oldest first.")


class SessionNameOut(Schema):
    ok: bool
    session_id: str
    name: str = Field(description="The name as stored: one line of plain text.")


class DeletedSessionOut(Schema):
    ok: bool
    session_id: str
    archived_as: str | None = Field(
        description="The trace's file name in the Sprite's ~/.pi/archived-sessions (null for "
        "a session that never got a file: it had no message)."
    )
    current: str | None = Field(
        description="The current session now (null: the next prompt starts a new one)."
    )


class ArchivedSessionOut(Schema):
    file: str = Field(description="The file's name in ~/.pi/archived-sessions.")
    id: str
    name: str | None
    created: str | None
    archived_at: str | None
    message_count: int
    size: int = Field(description="The trace's size in bytes.")


class ArchivedSessionsOut(Schema):
    archived: list[ArchivedSessionOut]


class RestoreSessionIn(Input):
    file: str = Field(
        pattern=ARCHIVED_FILE_PATTERN,
        description="The archived file's name, as `GET .../sessions/archived` lists it.",
        examples=["20261201T101010123456Z_2026-12-01T10-00-00-000Z_0193a0b0-c0d0.jsonl"],
    )


class RestoredSessionOut(Schema):
    ok: bool
    session_id: str | None
    restored_as: str | None = Field(
        description="The trace's file name in the Sprite's pi session folder again."
    )
    current: str | None = Field(description="The current session now.")


class HistoryOut(Schema):
    session_id: str | None
    last_event_id: int = Field(
        description="Read before the messages: follow on with GET /events?after=<this>."
    )
    busy: bool = Field(description="True until the agent has settled (retries included).")
    retrying: bool = Field(False, description="The run failed and the agent is retrying it.")
    queue: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Messages waiting in the agent's queue: "
        "{'steering': [...], 'followUp': [...]}.",
    )
    messages: list[dict[str, Any]] = Field(description="pi's messages, oldest first.")


# -- branching (projects/bridge/branches.py) ----------------------------------------------

EntryId = Annotated[str, Field(pattern=ENTRY_ID_PATTERN, examples=["a1b2c3d4"])]


class TreeNodeOut(Schema):
    id: str = Field(description="The message's entry id in pi's session tree.")
    parent_id: str | None = Field(
        description="The user message before it on its branch (null: the first)."
    )
    text: str = Field(description=f"The message's text, cut to {TREE_TEXT_CHARS} characters.")
    timestamp: str | None = Field(description="When pi wrote the entry (ISO 8601).")
    message_timestamp: float | None = Field(
        description="The message's own `timestamp` (ms), as in `GET /messages`."
    )
    active: bool = Field(description="On the branch the session is on now.")


class TreeOut(Schema):
    session_id: str
    leaf_id: str | None = Field(description="pi's current leaf entry.")
    truncated: bool = Field(description=f"Only the newest {MAX_TREE_NODES} messages are listed.")
    nodes: list[TreeNodeOut] = Field(
        description="Your messages, oldest first; siblings (same parent_id) are branches."
    )


class EditIn(Input):
    entry_id: EntryId = Field(description="The user message to replace (a node of the tree).")
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    images: list[ImageIn] | None = None


class BranchIn(Input):
    entry_id: EntryId = Field(description="Any message of the branch to show.")


AgentDocument = dict[str, Any]
"""The bridge's own JSON (state, sessions, messages, inspect): passed through as it is."""


# -- supervised services and cron jobs (issue 15) --------------------------------------------


class ServiceRunOut(Schema):
    """One run of a cron job (``trigger``: schedule, manual or missed)."""

    id: int
    service: str
    started_at: str | None
    ended_at: str | None
    exit_code: int | None
    output: str = Field(description="The end of the run's output, as plain text.")
    trigger: str


class ServiceOut(Schema):
    """A service the platform supervises in the project's Sprite. Every text comes from the
    Sprite: show it as text, never as markup."""

    name: str
    type: ServiceType
    command: str
    cwd: str
    port: int | None = Field(description="The port it serves HTTP on, if any.")
    schedule: str | None = Field(description="A cron job's schedule.")
    description: str
    desired: str = Field(description="running or stopped: what the platform keeps it at.")
    status: ServiceStatus
    pid: int | None
    restart_count: int
    next_restart_at: str | None = Field(description="When a crashed service is restarted.")
    last_exit_code: int | None
    started_at: str | None
    next_run_at: str | None = Field(description="A cron job's next due time.")
    last_run: ServiceRunOut | None


class ServicesOut(Schema):
    services: list[ServiceOut]


class ServiceActionOut(Schema):
    ok: bool
    service: ServiceOut | None = Field(
        description="The service afterwards, when the bridge said (a service_changed event "
        "on the project's event stream follows either way)."
    )


class ServiceLogOut(Schema):
    service: str
    lines: list[str] = Field(description="The end of the service's log, oldest first, as text.")


class ServiceRunsOut(Schema):
    service: str
    runs: list[ServiceRunOut] = Field(description="The last runs, newest first.")
