"""``GET /projects/{id}/events``: the project's agent events as Server-Sent Events, for
programs (``curl -N``). The browser gets the same events through the websocket relay.

Each request opens one stream to the bridge (through projects/bridge/events.py, the one
reader of the bridge's stream) and passes its bytes through unchanged, so the envelope,
ids, ``retry:`` hint, keep-alives and ``reset`` events are the bridge's own.
The cursor (``Last-Event-ID``, or ``?after=N``) is forwarded, so a client that reconnects
with the last id it saw gets exactly the events it missed, in order, then live ones.

Ownership: the response's async iterator owns the upstream client and closes it in
``finally``, which runs when the bridge ends the stream or when Django cancels the
iterator because the client went away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from projects.bridge.client import endpoint_for
from projects.bridge.events import EventStream, open_event_stream
from projects.lifecycle.activity import ensure_running, touch
from projects.lifecycle.presence import viewer_present
from projects.lookup import project_for_principal
from sprites.backends import BridgeEndpoint
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["agent"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventsQuery(Schema):
    after: int | None = Field(
        None, ge=0, le=2**62, description="Replay events after this id (0: all kept)."
    )


def _cursor(request: HttpRequest, after: int | None) -> int | None:
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        if not header.isdigit() or len(header) > 19:
            raise HttpError(422, "Last-Event-ID must be a non-negative integer event id.")
        return int(header)
    return after


def _open_target(request: HttpRequest, project_id: str) -> tuple[str, BridgeEndpoint]:
    project = project_for_principal(request, project_id)
    ensure_running(project)
    touch(project)
    return project.public_id, endpoint_for(project)


async def _passthrough(
    client: httpx.AsyncClient, stream: EventStream, public_id: str
) -> AsyncIterator[bytes]:
    try:
        # A program following the stream watches the project: idle sleep waits meanwhile.
        async with viewer_present(public_id):
            async for chunk in stream.raw():
                yield chunk
    finally:
        await stream.aclose()
        await client.aclose()


@router.get(
    "/{project_id}/events",
    response=responses({}, *SPRITE_ERRORS),
    openapi_extra={
        "parameters": [
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
                "description": "Resume after this event id (wins over `after`).",
            }
        ],
        "responses": {
            "200": {
                "description": (
                    'A text/event-stream of events, each `id: N` and `data: {"id", '
                    '"session_id", "type", "data", "ts"}`; a `reset` event when the cursor is '
                    "older than the kept log or ahead of it (reload /messages)."
                ),
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    },
    summary="Follow the agent's events (Server-Sent Events)",
)
async def events(
    request: HttpRequest, project_id: str, query: Query[EventsQuery]
) -> StreamingHttpResponse:
    """Without a cursor the stream is live-only; `?after=0` replays everything kept."""
    cursor = _cursor(request, query.after)
    public_id, endpoint = await sync_to_async(_open_target)(request, project_id)
    client = httpx.AsyncClient()
    try:
        stream = await open_event_stream(client, endpoint, cursor)
    except BaseException:
        await client.aclose()
        raise
    return StreamingHttpResponse(
        _passthrough(client, stream, public_id),
        content_type="text/event-stream",
        headers=SSE_HEADERS,
    )
