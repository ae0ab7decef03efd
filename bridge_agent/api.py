"""The ``/starter/*`` endpoints: parse and validate, call the runtime, answer JSON."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from bridge_agent import branches, protocol
from bridge_agent.app_target import valid_port
from bridge_agent.commands import exec_command
from bridge_agent.environment import checked_update
from bridge_agent.errors import ApiError
from bridge_agent.inputs import (
    json_object,
    optional_images,
    optional_string,
    required_text,
    session_id_from,
    session_name_from,
)
from bridge_agent.inspect_db import read_inspect_db
from bridge_agent.protocol import THINKING_LEVELS
from bridge_agent.runtime import BridgeRuntime
from bridge_agent.services.routes import routes as service_routes
from bridge_agent.session_archive import checked_archive_name
from bridge_agent.sse import EventStreamResponse
from bridge_agent.terminal_routes import routes as terminal_routes

SESSION_ID = re.compile(protocol.SESSION_ID_PATTERN)


def runtime_of(request: Request) -> BridgeRuntime:
    runtime: BridgeRuntime = request.app.state.runtime
    return runtime


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def events(request: Request) -> Response:
    return events_response(runtime_of(request), request)


def events_response(runtime: BridgeRuntime, request: Request) -> Response:
    """The SSE response for ``GET /starter/events``; raises ``ApiError`` for a bad cursor."""
    cursor = request.headers.get(protocol.LAST_EVENT_ID_REQUEST_HEADER) or request.query_params.get(
        "after"
    )
    after: int | None = None
    if cursor is not None and cursor.strip() != "":
        try:
            after = int(cursor)
        except ValueError:
            after = -1
        if after < 0:
            raise ApiError(
                400, "invalid_cursor", "Last-Event-ID / 'after' must be a non-negative integer."
            )
    # replay_only: send what is kept after the cursor and end (the control plane's relay
    # uses it to catch a viewer up while its one live stream per project keeps running).
    replay_only = request.query_params.get("replay_only", "") in {"1", "true"}
    if replay_only and after is None:
        raise ApiError(
            400, "invalid_cursor", "replay_only needs a cursor: send 'after' or Last-Event-ID."
        )
    return EventStreamResponse(
        runtime.log,
        after,
        runtime.config.keepalive_interval,
        runtime.shutting_down,
        replay_only=replay_only,
    )


async def prompt(request: Request) -> Response:
    body = await json_object(request)
    live, disposition = await runtime_of(request).sessions.prompt(
        session_id_from(request, body), required_text(body, "message"), optional_images(body)
    )
    return _accepted(live.session_id, disposition)


def _accepted(session_id: str, disposition: protocol.PromptDisposition) -> Response:
    """202 with pi's disposition: ``handled`` means no run started (nothing to wait for)."""
    return JSONResponse(
        {"ok": True, "session_id": session_id, "disposition": disposition}, status_code=202
    )


async def steer(request: Request) -> Response:
    return await _queue(request, "steer")


async def follow_up(request: Request) -> Response:
    return await _queue(request, "followUp")


async def _queue(request: Request, behaviour: protocol.StreamingBehavior) -> Response:
    body = await json_object(request)
    live, disposition = await runtime_of(request).sessions.queue_message(
        session_id_from(request, body),
        required_text(body, "message"),
        behaviour,
        optional_images(body),
    )
    return _accepted(live.session_id, disposition)


async def queue_clear(request: Request) -> Response:
    """Take back the queued steer and follow-up texts (they will not be sent)."""
    body = await json_object(request)
    session_id, queue = await runtime_of(request).sessions.clear_queue(
        session_id_from(request, body)
    )
    return JSONResponse({"ok": True, "session_id": session_id, **queue})


async def abort(request: Request) -> Response:
    body = await json_object(request)
    live = await runtime_of(request).sessions.abort(session_id_from(request, body))
    return JSONResponse({"ok": True, "session_id": live.session_id})


async def state(request: Request) -> Response:
    runtime = runtime_of(request)
    data = await runtime.sessions.state(session_id_from(request))
    data["app_port"] = runtime.app_target.port
    data["last_event_id"] = runtime.log.last_id
    data["live_sessions"] = sorted(runtime.sessions.live)
    # Every session with a run going (not only the one asked about): idle sleep asks this.
    data["busy_sessions"] = sorted(
        session_id for session_id, live in runtime.sessions.live.items() if live.busy
    )
    return JSONResponse(data)


async def config(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await json_object(request)
    unknown = set(body) - {"model", "thinking_level", "app_port", "session_id"}
    if unknown:
        raise ApiError(
            400,
            "invalid_field",
            f"Unknown field(s) {sorted(unknown)}; use model, thinking_level, app_port.",
        )
    model = _parse_model(body.get("model"))
    thinking_level = optional_string(body, "thinking_level")
    if thinking_level is not None and thinking_level not in THINKING_LEVELS:
        raise ApiError(
            400, "invalid_field", f"'thinking_level' must be one of {', '.join(THINKING_LEVELS)}."
        )
    app_port = body.get("app_port")
    if app_port is not None and not valid_port(app_port):
        raise ApiError(400, "invalid_field", "'app_port' must be an integer from 1 to 65535.")
    if app_port is not None and app_port == runtime.config.port:
        raise ApiError(
            400, "invalid_field", f"Port {app_port} is the bridge; proxying to it would loop."
        )
    answer: dict[str, Any] = {"ok": True}
    if model is not None or thinking_level is not None:
        live = await runtime.sessions.configure(
            session_id_from(request, body), model, thinking_level
        )
        answer.update(await runtime.sessions.state(live.session_id))
    if app_port is not None:
        runtime.app_target.set(int(app_port), source="config")
    answer["app_port"] = runtime.app_target.port
    return JSONResponse(answer)


def _parse_model(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        provider, _, model_id = value.strip().partition("/")
        if provider and model_id:
            return provider, model_id
    raise ApiError(
        400, "invalid_field", "'model' must be 'provider/model_id', for example 'openai/gpt-4.1'."
    )


async def sessions_list(request: Request) -> Response:
    runtime = runtime_of(request)
    return JSONResponse(
        {"current": runtime.sessions.current_id, "sessions": runtime.sessions.list()}
    )


async def sessions_new(request: Request) -> Response:
    body = await json_object(request)
    name = session_name_from(body) if body.get("name") is not None else None
    live = await runtime_of(request).sessions.new_session(name)
    return JSONResponse(
        {"ok": True, "session_id": live.session_id, "name": live.name}, status_code=201
    )


async def sessions_rename(request: Request) -> Response:
    body = await json_object(request)
    live = await runtime_of(request).sessions.rename(
        session_id_from(request, body), session_name_from(body)
    )
    return JSONResponse({"ok": True, "session_id": live.session_id, "name": live.name})


async def sessions_delete(request: Request) -> Response:
    """Archive a session: 400 a malformed id, 404 an unknown one, 409 one running a prompt."""
    session_id = request.path_params["session_id"]
    if not SESSION_ID.match(session_id):
        raise ApiError(400, "invalid_field", "That is not a session id; see /starter/sessions.")
    return JSONResponse({"ok": True, **await runtime_of(request).sessions.delete(session_id)})


async def sessions_archived(request: Request) -> Response:
    return JSONResponse({"archived": runtime_of(request).sessions.archived()})


async def sessions_restore(request: Request) -> Response:
    """Restore an archived session: 400 a malformed name, 404 one not archived, 409 when its
    session (or its file's name) is there again."""
    body = await json_object(request)
    archived_file = checked_archive_name(body.get("file"))
    return JSONResponse({"ok": True, **await runtime_of(request).sessions.restore(archived_file)})


async def sessions_switch(request: Request) -> Response:
    body = await json_object(request)
    session_id = session_id_from(request, body)
    if session_id is None:
        raise ApiError(400, "invalid_field", "'session_id' is required to switch sessions.")
    live = await runtime_of(request).sessions.switch(session_id)
    return JSONResponse({"ok": True, "session_id": live.session_id})


async def sessions_compact(request: Request) -> Response:
    body = await json_object(request)
    session_id = session_id_from(request, body)
    result = await runtime_of(request).sessions.compact(
        session_id, optional_string(body, "instructions")
    )
    return JSONResponse({"ok": True, "result": result})


async def session_trace(request: Request) -> Response:
    path = runtime_of(request).sessions.trace_path(request.path_params["session_id"])
    return FileResponse(path, media_type="application/x-ndjson")


async def messages(request: Request) -> Response:
    live, history = await runtime_of(request).sessions.messages(session_id_from(request))
    return JSONResponse({"session_id": live.session_id, "messages": history})


async def commands(request: Request) -> Response:
    live, listed = await runtime_of(request).sessions.commands(session_id_from(request))
    return JSONResponse({"session_id": live.session_id, "commands": listed})


async def inspect(request: Request) -> Response:
    return JSONResponse(read_inspect_db(runtime_of(request).config.inspect_db_path))


async def environment_update(request: Request) -> Response:
    """The project's whole new set of secrets and keys (only the control plane has the token
    this needs); see ``protocol.ENVIRONMENT_PATH``. Refusals name no value."""
    body = await json_object(request)
    unknown = set(body) - {"variables", "secret_names"}
    if unknown:
        raise ApiError(400, "invalid_field", f"Unknown field(s) {sorted(unknown)}; send variables.")
    try:
        variables, listed = checked_update(body.get("variables"), body.get("secret_names"))
    except ValueError as problem:
        raise ApiError(400, "invalid_field", f"Refused: {problem}.") from None
    answer = await runtime_of(request).update_environment(variables, listed)
    return JSONResponse(answer)


routes = [
    Route(protocol.HEALTH_PATH, health, methods=["GET"]),
    Route(protocol.EVENTS_PATH, events, methods=["GET"]),
    Route(protocol.PROMPT_PATH, prompt, methods=["POST"]),
    Route(protocol.STEER_PATH, steer, methods=["POST"]),
    Route(protocol.FOLLOW_UP_PATH, follow_up, methods=["POST"]),
    Route(protocol.ABORT_PATH, abort, methods=["POST"]),
    Route(protocol.STATE_PATH, state, methods=["GET"]),
    Route(protocol.CONFIG_PATH, config, methods=["POST"]),
    Route(protocol.SESSIONS_PATH, sessions_list, methods=["GET"]),
    Route(protocol.SESSIONS_NEW_PATH, sessions_new, methods=["POST"]),
    Route(protocol.SESSIONS_SWITCH_PATH, sessions_switch, methods=["POST"]),
    Route(protocol.SESSIONS_COMPACT_PATH, sessions_compact, methods=["POST"]),
    Route(protocol.SESSIONS_RENAME_PATH, sessions_rename, methods=["POST"]),
    Route(protocol.QUEUE_CLEAR_PATH, queue_clear, methods=["POST"]),
    Route(protocol.SESSION_TRACE_PATH, session_trace, methods=["GET"]),
    Route(protocol.SESSIONS_ARCHIVED_PATH, sessions_archived, methods=["GET"]),
    Route(protocol.SESSIONS_RESTORE_PATH, sessions_restore, methods=["POST"]),
    Route(protocol.MESSAGES_PATH, messages, methods=["GET"]),
    Route(protocol.INSPECT_PATH, inspect, methods=["GET"]),
    Route(protocol.COMMANDS_PATH, commands, methods=["GET"]),
    Route(protocol.EXEC_PATH, exec_command, methods=["POST"]),
    Route(protocol.ENVIRONMENT_PATH, environment_update, methods=["POST"]),
    *branches.routes,
    *service_routes,
    *terminal_routes,
    # Last: its ``{session_id}`` would otherwise take the fixed names above (a POST to
    # /starter/sessions/new is not a DELETE, but the router must see that route first).
    Route(protocol.SESSION_PATH, sessions_delete, methods=["DELETE"]),
]
