"""The bridge's wire contract: what the bridge and the control plane must both agree on.

Pure constants (the idea of Starlette's ``types.py``): no imports beyond ``typing``, so the
bridge (which never imports Django) and the control plane (``projects.bridge.agent``,
``projects.api.schemas``, ``accounts``) both import this one module instead of re-typing
paths, limits and names that then drift apart.

Naming of the third way to send a message, written once here:

- ``follow_up`` is the *send behaviour* name on the control plane (``SEND_BEHAVIOURS``, the
  dashboard's ``mode`` field) — a Python identifier;
- ``follow-up`` is the *URL* spelling, both on the bridge (``/starter/follow-up``) and in the
  REST API (``/api/v1/projects/{id}/follow-up``);
- ``followUp`` is *pi's* spelling, the value of ``streamingBehavior`` in pi's RPC ``prompt``
  command (as is ``steer``). A plain prompt sends no ``streamingBehavior``.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple, get_args

# -- paths (all under /starter/; everything else is proxied to the app) ------------------------

API_PREFIX: Final = "/starter/"
HEALTH_PATH: Final = "/starter/health"
EVENTS_PATH: Final = "/starter/events"
PROMPT_PATH: Final = "/starter/prompt"
STEER_PATH: Final = "/starter/steer"
FOLLOW_UP_PATH: Final = "/starter/follow-up"
ABORT_PATH: Final = "/starter/abort"
# GET: the (current or ?session_id=) session's state, plus ``app_port``, ``last_event_id``,
# ``live_sessions`` and ``busy_sessions`` (every session with a run going, which idle sleep
# asks before it puts the Sprite to sleep).
STATE_PATH: Final = "/starter/state"
CONFIG_PATH: Final = "/starter/config"
SESSIONS_PATH: Final = "/starter/sessions"
SESSIONS_NEW_PATH: Final = "/starter/sessions/new"
SESSIONS_SWITCH_PATH: Final = "/starter/sessions/switch"
SESSIONS_COMPACT_PATH: Final = "/starter/sessions/compact"
SESSIONS_RENAME_PATH: Final = "/starter/sessions/rename"
# Takes back the steer and follow-up messages still waiting in pi's queue (pi's clear_queue).
QUEUE_CLEAR_PATH: Final = "/starter/queue/clear"
SESSION_TRACE_PATH: Final = "/starter/sessions/{session_id}/trace"
MESSAGES_PATH: Final = "/starter/messages"
INSPECT_PATH: Final = "/starter/inspect"
EXEC_PATH: Final = "/starter/exec"
# The session's slash commands (pi's prompt templates, skills and extension commands).
COMMANDS_PATH: Final = "/starter/commands"
# Branching (bridge_agent/branches.py): a session's tree, edit-and-resend, switching
# branch, duplicating a session.
SESSION_TREE_PATH: Final = "/starter/sessions/tree"
SESSION_EDIT_PATH: Final = "/starter/sessions/edit"
SESSION_BRANCH_PATH: Final = "/starter/sessions/branch"
SESSION_CLONE_PATH: Final = "/starter/sessions/clone"
# DELETE: archive a session (bridge_agent/session_archive.py): its file moves, never copied
# over another, to ARCHIVED_SESSIONS_FOLDER (next to pi's session folder) under a timestamped
# name; 409 while it runs a prompt. GET SESSIONS_ARCHIVED_PATH lists the archived files.
SESSION_PATH: Final = "/starter/sessions/{session_id}"
SESSIONS_ARCHIVED_PATH: Final = "/starter/sessions/archived"
# POST {"file": an archived file's name}: the session goes back to pi's folder and its lists
# (under its name before it was archived); 404 for a name not archived, 409 when a session
# with its id or its file name is there again.
SESSIONS_RESTORE_PATH: Final = "/starter/sessions/archived/restore"
# An archived file's name: ``<UTC stamp>_<the session file's name>`` (``-N`` before
# ``.jsonl`` when the name was taken). Nothing with a separator or a leading dot.
ARCHIVED_FILE_PATTERN: Final = r"^[0-9]{8}T[0-9]{12}Z_[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.jsonl$"
# ``~/.pi/archived-sessions``: pi never reads it, so an archived session stays out of lists.
ARCHIVED_SESSIONS_FOLDER: Final = "archived-sessions"


def session_trace_path(session_id: str) -> str:
    """The trace path of one session; ``session_id`` must match ``SESSION_ID_PATTERN``."""
    return SESSION_TRACE_PATH.format(session_id=session_id)


def session_path(session_id: str) -> str:
    """One session's path (DELETE archives it); ``session_id`` matches ``SESSION_ID_PATTERN``."""
    return SESSION_PATH.format(session_id=session_id)


# -- headers -------------------------------------------------------------------------------------

TOKEN_HEADER: Final = "x-starter-token"  # noqa: S105 (a header name, not a secret)
# The standard SSE resume header, sent by a reader that reconnects.
LAST_EVENT_ID_REQUEST_HEADER: Final = "last-event-id"
# Sent by the bridge on ``GET /starter/events``: the log's last id when the stream began, so a
# reader knows where replay ends and live events start.
LAST_EVENT_ID_HEADER: Final = "x-starter-last-event-id"

# -- event types the bridge itself writes (pi's own event types pass through, some renamed) ----

EVENT_ERROR: Final = "error"
EVENT_SESSION_STARTED: Final = "session_started"
EVENT_SESSION_ENDED: Final = "session_ended"
# A session was archived (deleted from the lists). Payload: {"archived_as": the archive
# file's name or null (a session pi never wrote), "current": the current session now}.
EVENT_SESSION_DELETED: Final = "session_deleted"
# An archived session was restored. Payload: {"restored_as": its file name in pi's folder,
# "archived_file": the archived name it came from}.
EVENT_SESSION_RESTORED: Final = "session_restored"
EVENT_INSPECT_CHANGED: Final = "inspect_changed"
# Payload: {"port": int, "previous": int, "source": "extension" | "config", "detail": {...}}
# (the extension's detail is {"line", "tool"}: the dev-server line it saw, and the tool).
EVENT_APP_PORT: Final = "app_port"
EVENT_NOTIFY: Final = "notify"
EVENT_SECRET_REQUESTED: Final = "secret_requested"  # noqa: S105 (an event name)
# Not stored: sent to a reader whose cursor the log can no longer serve.
EVENT_RESET: Final = "reset"
# The session moved to another branch of its tree (an edit or a switch): its messages are
# now another list, so readers reload them. Payload: {"leaf_id", "entry_id", "reason":
# "edit" | "switch"}.
EVENT_BRANCH_CHANGED: Final = "branch_changed"

# pi's own run markers. A run is the events of one session from its ``agent_start`` to its
# ``agent_end``. When a run cannot end by itself (the bridge or pi died in the middle), the
# bridge writes the ``agent_end`` in pi's shape (``messages``: the messages the run
# finished) plus ``"interrupted": true``, a ``reason`` (one of ``InterruptReason``), a
# ``message`` for people, and pi's last known state from the log: ``last_event_id``,
# ``unfinished_message`` (an assistant message that started and never ended: ``role``,
# ``text``, ``thinking``) and ``running_tools`` (``toolCallId``, ``toolName``, ``args``).
# Every client that stops showing "working" on ``agent_end`` does so without new code.
EVENT_AGENT_START: Final = "agent_start"
EVENT_AGENT_END: Final = "agent_end"
InterruptReason = Literal["bridge_restarted", "agent_exited", "bridge_stopped"]

# pi 1.6 run state and session facts, passed through as pi sends them:
# - ``agent_settled {aborted}``: pi will do nothing more by itself (no retry, no queued message,
#   no compaction recovery). It ends a session's busy time; it also arrives alone (after a
#   session switch and at the start of a compaction), so it is never paired with agent_start.
# - ``agent_end.willRetry``: true when pi will try the run again (``auto_retry_start`` /
#   ``auto_retry_end {success, attempt, finalError}`` frame the retries).
# - ``queue_update {steering, followUp}``: the whole queue of waiting messages, each a text.
# - ``session_info_changed {name}``: the session's display name (untrusted text).
# - ``thinking_level_changed {level}``.
EVENT_AGENT_SETTLED: Final = "agent_settled"
EVENT_AUTO_RETRY_START: Final = "auto_retry_start"
EVENT_AUTO_RETRY_END: Final = "auto_retry_end"
EVENT_QUEUE_UPDATE: Final = "queue_update"
EVENT_SESSION_INFO_CHANGED: Final = "session_info_changed"
EVENT_THINKING_LEVEL_CHANGED: Final = "thinking_level_changed"

# What pi did with a prompt (``data.disposition`` of its answer): ``started`` a run, ``queued``
# it behind the running one, or ``handled`` it without a run (an extension command).
PromptDisposition = Literal["started", "queued", "handled"]
PROMPT_DISPOSITIONS: Final[tuple[PromptDisposition, ...]] = get_args(PromptDisposition)

# -- limits and choices -------------------------------------------------------------------------

# pi clamps a level the model does not support to the nearest one it does (``max`` came in
# pi 0.80.6); get_available_thinking_levels says what a model takes.
ThinkingLevel = Literal["off", "minimal", "low", "medium", "high", "xhigh", "max"]
THINKING_LEVELS: Final[tuple[ThinkingLevel, ...]] = get_args(ThinkingLevel)

# pi's session ids (UUIDs); ids end up in bridge URLs and file globs, so nothing else passes.
SESSION_ID_PATTERN: Final = r"^[0-9A-Za-z][0-9A-Za-z-]{0,127}$"

MAX_MESSAGE_CHARS: Final = 200_000

# pi's session entry ids (8 hex digits today); they travel in JSON bodies, never in paths.
ENTRY_ID_PATTERN: Final = r"^[0-9A-Za-z_-]{1,64}$"
# The starter extension's command that moves a session within its tree (pi has no RPC
# command for it). It is in ``get_commands``: lists of slash commands for people skip it.
BRANCH_COMMAND: Final = "starter-branch"
# A session tree's node texts are cut to this many characters (the tree is a map, the
# messages are read in the chat); a tree has at most this many nodes (the newest).
TREE_TEXT_CHARS: Final = 300
MAX_TREE_NODES: Final = 2000
# A session's display name (``session_names.clean_session_name`` applies it on both sides).
MAX_SESSION_NAME_CHARS: Final = 120

# Compaction asks the model for a summary of the whole conversation. The bridge waits this
# long for pi; the control plane waits a little longer for the bridge, so the bridge's own
# answer (a clear 503) arrives before the control plane gives up.
COMPACT_TIMEOUT: Final = 300.0
COMPACT_CLIENT_MARGIN: Final = 10.0

# The control plane serves at most this much of a session's trace (its newest part).
MAX_TRACE_BYTES: Final = 2 * 1024 * 1024

# Images in a prompt (pi's ``ImageContent``: ``{"type": "image", "data": base64, "mimeType"}``).
# Raster types only: an SVG is a document that can carry script, never an image here. The
# sizes keep a prompt with its images under the control plane's request limit
# (STARTER_MAX_REQUEST_BYTES, 5 MiB by default; base64 adds a third).
IMAGE_MIME_TYPES: Final = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGES: Final = 4
MAX_IMAGE_BYTES: Final = 3 * 1024 * 1024
MAX_IMAGES_TOTAL_BYTES: Final = 3 * 1024 * 1024 + 512 * 1024

# Slash commands come from files in the Sprite (untrusted): the control plane passes at most
# this many, with names and descriptions cut to these lengths.
MAX_COMMANDS: Final = 200
MAX_COMMAND_NAME_CHARS: Final = 128
MAX_COMMAND_DESCRIPTION_CHARS: Final = 300
CommandSource = Literal["prompt", "skill", "extension"]
COMMAND_SOURCES: Final[tuple[CommandSource, ...]] = get_args(CommandSource)


# -- the three ways to send a message ------------------------------------------------------------

SendBehaviour = Literal["prompt", "steer", "follow_up"]
StreamingBehavior = Literal["steer", "followUp"]


class SendRoute(NamedTuple):
    path: str
    # pi's ``streamingBehavior``; None for a plain prompt (refused while a run is going).
    streaming_behavior: StreamingBehavior | None


SEND_BEHAVIOURS: Final[dict[SendBehaviour, SendRoute]] = {
    "prompt": SendRoute(PROMPT_PATH, None),
    "steer": SendRoute(STEER_PATH, "steer"),
    "follow_up": SendRoute(FOLLOW_UP_PATH, "followUp"),
}


# -- supervised services and cron jobs (bridge_agent/services/, issue 15) ------------------------
#
# The agent (a tool in the starter extension) and scripts in the Sprite (the ``starter-service``
# command, over a unix socket in the home) define services; the bridge keeps them in
# ``~/.starter/services.json`` (so a wake, a bridge restart or a checkpoint restore starts them
# again), runs them with the project's current secrets, restarts a crashed one with backoff,
# writes each one's output to its own bounded log, and runs cron jobs on their schedule. The
# seed's ``services`` table of inspect.db mirrors them (its columns unchanged); cron runs are
# kept in inspect.db's own ``service_runs`` table.
#
# A service, as ``GET /starter/services`` lists it (``{"services": [...]}``) and as the payload
# of a ``service_changed`` event:
#   {"name", "type": ServiceType, "command", "cwd", "port": int | None,
#    "schedule": str | None, "description", "desired": "running" | "stopped",
#    "status": ServiceStatus, "pid": int | None, "restart_count": int,
#    "next_restart_at": ISO-8601 | None, "last_exit_code": int | None,
#    "started_at": ISO-8601 | None, "next_run_at": ISO-8601 | None (cron: the next due time),
#    "last_run": ServiceRun | None}
# A cron run (``GET /starter/services/{name}/runs`` → ``{"runs": [...]}``, newest first; the
# payload of a ``service_run`` event when one ends):
#   {"id": int, "service", "started_at", "ended_at": ISO-8601 | None,
#    "exit_code": int | None, "output": str (the end of it, at most MAX_RUN_OUTPUT_CHARS),
#    "trigger": "schedule" | "manual" | "missed"}
SERVICES_PATH: Final = "/starter/services"  # GET list; POST define-and-start (body: ServiceSpec)
SERVICE_PATH: Final = "/starter/services/{name}"  # GET one; DELETE stops and forgets it
SERVICE_ACTION_PATH: Final = "/starter/services/{name}/{action}"  # POST; action: ServiceAction
# GET ?lines=N → {"lines": [...]} (the end of the log); with ?follow=1 an SSE stream of
# ``log`` events ({"line"}) that starts with the last N lines.
SERVICE_LOGS_PATH: Final = "/starter/services/{name}/logs"
SERVICE_RUNS_PATH: Final = "/starter/services/{name}/runs"
# POST {"variables": {NAME: value}} (the project's secrets and keys, whole): new processes get
# them at once; services restart with them; pi restarts with them when its session is idle.
# Optional "secret_names": [names of variables the agent is told about] (STARTER_SECRET_NAMES;
# default: every name not starting with STARTER_). Names the platform owns are refused (400):
# see bridge_agent/environment.py ``variable_name_problem``.
# Answer: {"applied": "now" | "after_run", "pending_sessions": [session ids still busy],
# "names": [names whose value changed]}.
ENVIRONMENT_PATH: Final = "/starter/environment"
# Who runs long-running services: unset, the bridge; "sprite" (fly), the Sprite, as Sprite
# services the control plane defines from ``GET /starter/services`` (the bridge records them
# and spawns nothing; their status and logs come from the Sprites API). Cron runs stay here.
SERVICE_RUNNER_VARIABLE: Final = "STARTER_SERVICE_RUNNER"
SERVICE_RUNNER_SPRITE: Final = "sprite"

ServiceType = Literal["app", "api", "worker", "cron"]
SERVICE_TYPES: Final[tuple[ServiceType, ...]] = get_args(ServiceType)
# ``scheduled``: a cron job between runs; ``backoff``: crashed, waiting to be restarted
# (``next_restart_at`` says when); ``error``: gave up or cannot start (see the log).
ServiceStatus = Literal["starting", "running", "backoff", "stopped", "scheduled", "error"]
SERVICE_STATUSES: Final[tuple[ServiceStatus, ...]] = get_args(ServiceStatus)
ServiceAction = Literal["start", "stop", "restart", "run"]  # ``run``: a cron job, now
SERVICE_ACTIONS: Final[tuple[ServiceAction, ...]] = get_args(ServiceAction)
SERVICE_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,39}$"
MAX_SERVICES: Final = 32
MAX_SERVICE_COMMAND_CHARS: Final = 4000
MAX_RUN_OUTPUT_CHARS: Final = 16_000
EVENT_SERVICE_CHANGED: Final = "service_changed"  # payload: the service
EVENT_SERVICE_REMOVED: Final = "service_removed"  # payload: {"name"}
EVENT_SERVICE_RUN: Final = "service_run"  # payload: the run that ended
# Written by the bridge after it took new environment values: {"names": [...], "applied":
# "now" | "after_run", "pending_sessions": [...]}; again, with the session's id and "applied":
# "now", when a busy session picked them up (its pi restarted right after its run settled).
EVENT_ENVIRONMENT_CHANGED: Final = "environment_changed"
# The control plane restored a checkpoint: {"checkpoint_id", "comment", "restored_at",
# "kept_sessions": [ids whose newer lines were kept]}; also a custom entry in each kept
# session file (``customType`` CHECKPOINT_RESTORE_ENTRY), so the trace shows where.
EVENT_CHECKPOINT_RESTORED: Final = "checkpoint_restored"
CHECKPOINT_RESTORE_ENTRY: Final = "starter-checkpoint-restored"
# How the control plane tells the bridge (stopped during the restore): this file in the home,
# the event's payload as JSON plus ``event_id_floor`` (int | None: the bridge's last event id
# before the restore, with a margin); the bridge writes the event when it starts, then
# removes the file. The control plane also puts the event log of before the restore back, so
# event ids never go back in time; a log too large to keep is the checkpoint's, and the
# bridge numbers its next events above the floor (no id is ever given to two events).
CHECKPOINT_RESTORE_NOTE: Final = ".starter/checkpoint-restored.json"

# Previews per port: ``<public_id>-<port>.<STARTER_PREVIEW_DOMAIN>``; the control plane asks the
# bridge's proxy for that port with this header (the bridge refuses its own port).
APP_PORT_HEADER: Final = "x-starter-app-port"


# -- terminals (bridge_agent/terminals.py, issue 17) -------------------------------------------
#
# Interactive shells in a PTY, inside the Sprite's sandbox, with the same environment as an
# exec (the project's newest secrets). ``POST`` creates one (body: optional ``cols``,
# ``rows``) → ``{"terminal": Terminal}``; ``GET`` lists them → ``{"terminals": [...]}``;
# ``DELETE`` of one ends its shell. A terminal:
#   {"id", "created_at": ISO-8601, "cols": int, "rows": int, "pid": int}
# Its socket (``TERMINAL_SOCKET_PATH``) first sends the recent output (at most
# TERMINAL_BUFFER_BYTES) as one binary frame, then {"type": "live"}, then the live output as
# binary frames. Text frames are JSON control messages: from the client {"type": "input",
# "data": str} or {"type": "resize", "cols": int, "rows": int} (a binary frame from the
# client is input too); from the bridge {"type": "live"} (what follows is new output: the
# control plane counts only that as activity) and {"type": "exit", "code": int | None} when
# the shell ended (the socket then closes with 1000). An unknown id closes with
# TERMINAL_CLOSE_NOT_FOUND.
TERMINALS_PATH: Final = "/starter/terminals"
TERMINAL_PATH: Final = "/starter/terminals/{terminal_id}"
TERMINAL_SOCKET_PATH: Final = "/starter/terminals/{terminal_id}/ws"
TERMINAL_ID_PATTERN: Final = r"^[0-9a-f]{16}$"
MAX_TERMINALS: Final = 8
TERMINAL_BUFFER_BYTES: Final = 256 * 1024
# One input frame (keystrokes or a paste) is at most this much; a larger one closes the
# socket with 1009 (message too big).
MAX_TERMINAL_INPUT_BYTES: Final = 64 * 1024
MIN_TERMINAL_SIZE: Final = 1
MAX_TERMINAL_COLS: Final = 1000
MAX_TERMINAL_ROWS: Final = 500
TERMINAL_CLOSE_NOT_FOUND: Final = 4404
# Sent as it is, so the control plane can compare it whole.
TERMINAL_LIVE_FRAME: Final = '{"type": "live"}'
# A reader that fell this far behind the shell's output is dropped (closed with 4408); it
# reattaches and gets the recent output again.
TERMINAL_CLOSE_TOO_SLOW: Final = 4408


def terminal_path(terminal_id: str) -> str:
    """The path of one terminal; ``terminal_id`` must match ``TERMINAL_ID_PATTERN``."""
    return TERMINAL_PATH.format(terminal_id=terminal_id)


def terminal_socket_path(terminal_id: str) -> str:
    """The socket path of one terminal; ``terminal_id`` must match ``TERMINAL_ID_PATTERN``."""
    return TERMINAL_SOCKET_PATH.format(terminal_id=terminal_id)


# -- the model gateway (gateway/, issue 16) ----------------------------------------------------
#
# pi in a Sprite holds no provider key: every provider the owner has a key for (built-in and
# custom) is configured in pi's models.json with ``baseUrl`` = ``<gateway>/p/<provider>``
# (``GATEWAY_PROVIDER_PREFIX``) and ``apiKey`` = ``$`` + GATEWAY_TOKEN_VARIABLE: the
# project's gateway token, from the bridge's environment. The gateway forwards
# ``<gateway>/p/<provider><rest>`` to ``<the provider's real baseUrl><rest>`` with the real
# key. The starter extension adds GATEWAY_SESSION_HEADER (pi's session id) to each call, so
# the ledger knows the session; the gateway strips every ``x-starter-*`` header.
GATEWAY_TOKEN_VARIABLE: Final = "STARTER_GATEWAY_TOKEN"  # noqa: S105 (a variable name)
GATEWAY_URL_VARIABLE: Final = "STARTER_GATEWAY_URL"
GATEWAY_PROVIDER_PREFIX: Final = "/p/"
GATEWAY_SESSION_HEADER: Final = "x-starter-session"
GATEWAY_TOKEN_PREFIX: Final = "sgw_"  # noqa: S105 (a prefix, not a secret)
# A fingerprint of pi's models.json in the bridge's environment: a provider added or removed
# changes the file and so this variable, and the bridge restarts pi (once its run ends) to
# read it. A key changing changes neither: the gateway reads keys at each call.
GATEWAY_MODELS_VARIABLE: Final = "STARTER_GATEWAY_MODELS"
#
# The gateway's own refusals (budget, loop guard, bad token…) answer with a JSON body
#   {"error": {"type": "starter_gateway", "code": <code>, "message": <text>}}
# (the shape OpenAI, Anthropic and Google clients all read a message from). The message ends
# with a marker ``[starter-gateway code=<code> key=value …]`` whose values are
# percent-encoded (no spaces, quotes or brackets), so it survives any client's quoting of
# the error text; pi shows the text, and the bridge finds the marker in pi's
# ``errorMessage`` and writes EVENT_GATEWAY_REFUSED. Budget messages say "out of budget"
# and guard messages avoid transient-error words, so pi does not retry them.
GATEWAY_MARKER_START: Final = "[starter-gateway "
GATEWAY_ERROR_TYPE: Final = "starter_gateway"
# Codes of refusals that become cards in the chat:
#   budget_reached {scope: "project" | "user", spent, limit, month: "YYYY-MM"} (dollars);
#   loop_guard {rule: "repeat" | "calls" | "minutes", tool, count, limit}.
GatewayCardCode = Literal["budget_reached", "loop_guard"]
GATEWAY_CARD_CODES: Final[tuple[GatewayCardCode, ...]] = get_args(GatewayCardCode)
# Written by the bridge when a run ended on a gateway refusal: {"session_id", "code", "message"
# (the text before the marker), "details": {key: value}}.
EVENT_GATEWAY_REFUSED: Final = "gateway_refused"


def gateway_marker(code: str, details: dict[str, str]) -> str:
    """The marker the gateway appends to a refusal's message (see above)."""
    from urllib.parse import quote

    parts = [f"code={quote(code, safe='')}"]
    parts += [f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in details.items()]
    return GATEWAY_MARKER_START + " ".join(parts) + "]"


def parse_gateway_marker(text: str) -> tuple[str, str, dict[str, str]] | None:
    """``(code, message before the marker, details)`` from an error text, or None."""
    from urllib.parse import unquote

    start = text.rfind(GATEWAY_MARKER_START)
    if start < 0:
        return None
    end = text.find("]", start)
    if end < 0:
        return None
    fields: dict[str, str] = {}
    for part in text[start + len(GATEWAY_MARKER_START) : end].split():
        key, _, value = part.partition("=")
        fields[unquote(key)] = unquote(value)
    code = fields.pop("code", "")
    if not code:
        return None
    return code, text[:start].strip(), fields
