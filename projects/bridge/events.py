"""The one reader of a bridge's event stream (``GET /starter/events``, Server-Sent Events).

Three readers use it: the relay's upstream holder (projects/relay/upstream.py) follows the
live stream; a websocket viewer catches up with a ``Replay`` (projects/relay/consumers.py);
``GET /api/v1/projects/{id}/events`` passes the stream's bytes through to programs
(projects/api/events.py). The request, its timeouts and the translation of every failure
into a ``BridgeError`` are written here once.

The stream, as the bridge writes it (bridge_agent/sse.py): each event is ``id``, ``event``
and one ``data`` line of compact JSON (the envelope); comments are keep-alives, every 15 s.
A ``Last-Event-ID`` request header resumes after that id (the kept events after it, then
live ones); without it the stream is live-only. The response header
``x-starter-last-event-id`` is the log's last id when the stream opened: where a live-only
stream starts, and how far a replay-only stream (``replay_only=1``) goes before it ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

import httpx
from channels.db import database_sync_to_async

from bridge_agent.protocol import EVENTS_PATH, LAST_EVENT_ID_HEADER, LAST_EVENT_ID_REQUEST_HEADER
from projects.bridge.client import aendpoint_for
from projects.errors import BridgeError
from projects.models import Project, Status
from sprites.backends import BridgeEndpoint

# The bridge's side of this contract (bridge_agent/sse.py, api.py).
REPLAY_ONLY_PARAMETER = "replay_only"

# The bridge sends a keep-alive comment every 15 s; three missed ones mean a dead stream.
READ_TIMEOUT = 45.0
STREAM_TIMEOUT = httpx.Timeout(10.0, connect=5.0, read=READ_TIMEOUT)


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One bridge event as it came off the wire: its envelope JSON is kept as text."""

    id: int
    type: str
    data: str


_LINE_END = re.compile(r"\r\n|\r|\n")


class SseParser:
    """Turns the text of an event stream, in chunks as it arrives, into whole events.

    The bridge writes ``id``, ``event`` and one ``data`` line (compact JSON) per event;
    comments and ``retry`` are skipped.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._id: int | None = None
        self._type = "message"
        self._data: list[str] = []

    def feed(self, text: str) -> list[SseEvent]:
        buffer = self._pending + text
        events: list[SseEvent] = []
        position = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == "\r" and match.end() == len(buffer):
                break  # perhaps the first half of a CRLF: wait for the next chunk
            self._line(buffer[position : match.start()], events)
            position = match.end()
        self._pending = buffer[position:]
        return events

    def _line(self, line: str, events: list[SseEvent]) -> None:
        if line == "":
            if self._data and self._id is not None:
                events.append(SseEvent(self._id, self._type, "\n".join(self._data)))
            self._id, self._type, self._data = None, "message", []
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = int(value)
        elif name == "event":
            self._type = value


def _unreachable() -> BridgeError:
    return BridgeError(
        502, "bridge_unreachable", "The project's machine is not answering; try again."
    )


async def iterate_sse(response: httpx.Response) -> AsyncIterator[list[SseEvent]]:
    """The events of a bridge event stream, in order, in the groups they arrived in.

    A lost connection raises ``BridgeError`` (``bridge_unreachable``); a line the parser
    cannot read raises ValueError.
    """
    parser = SseParser()
    try:
        async for text in response.aiter_text():
            events = parser.feed(text)
            if events:
                yield events
    except httpx.HTTPError as error:
        raise _unreachable() from error


class EventStream:
    """An open event stream. Whoever opened it closes it (``aclose``, or ``async with``)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        header = response.headers.get(LAST_EVENT_ID_HEADER, "")
        # The log's last id when the stream opened (None from a bridge that does not say).
        self.log_position: int | None = int(header) if header.isdigit() else None

    def batches(self) -> AsyncIterator[list[SseEvent]]:
        """Parsed events, in the groups they arrived in (see ``iterate_sse``)."""
        return iterate_sse(self.response)

    async def raw(self) -> AsyncIterator[bytes]:
        """The stream's bytes unchanged; it just ends when the bridge goes away (restart,
        sleep, restore): a client that reconnects with Last-Event-ID misses nothing."""
        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            return

    async def aclose(self) -> None:
        await self.response.aclose()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def open_event_stream(
    http: httpx.AsyncClient,
    endpoint: BridgeEndpoint,
    after: int | None,
    replay_only: bool = False,
) -> EventStream:
    """Open the bridge's event stream after event id ``after`` (None: live only).

    ``replay_only`` asks for the kept events after ``after`` and then the end. BridgeError
    (502) when the bridge cannot be reached or refuses; the caller owns the returned stream.
    """
    headers = dict(endpoint.headers)
    if after is not None:
        headers[LAST_EVENT_ID_REQUEST_HEADER] = str(after)
    request = http.build_request(
        "GET",
        endpoint.base_url + EVENTS_PATH,
        params={REPLAY_ONLY_PARAMETER: "1"} if replay_only else None,
        headers=headers,
        timeout=STREAM_TIMEOUT,
    )
    try:
        response = await http.send(request, stream=True)
    except httpx.HTTPError as error:
        raise _unreachable() from error
    if response.status_code != 200:
        await response.aclose()
        raise BridgeError(502, "bridge_error", "The project's agent refused the event stream.")
    return EventStream(response)


class Replay:
    """A replay-only request: the kept events after a cursor, then the end.

    ``last_id`` (known once the response starts) is the log's last id when the replay was
    cut: after a complete replay, the reader has everything up to it.
    """

    def __init__(self, http: httpx.AsyncClient, endpoint: BridgeEndpoint, after: int) -> None:
        self.http = http
        self.endpoint = endpoint
        self.after = after
        self.last_id: int | None = None

    async def events(self) -> AsyncIterator[SseEvent]:
        async with await open_event_stream(
            self.http, self.endpoint, self.after, replay_only=True
        ) as stream:
            self.last_id = stream.log_position
            async for events in stream.batches():
                for event in events:
                    yield event


# -- where a running project's bridge is ----------------------------------------------------

NOT_RUNNING = "not_running"
TARGET_CACHE_SECONDS = 2.0
_targets: dict[str, tuple[float, BridgeEndpoint]] = {}


def _visible_project(public_id: str) -> Project | None:
    return Project.objects.visible().select_related("owner").filter(public_id=public_id).first()


async def bridge_target(public_id: str, *, fresh: bool = False) -> BridgeEndpoint:
    """URL and token headers of a running project's bridge (never log the headers).

    Never wakes a Sprite: BridgeError ``not_running`` (409) when the project is not running,
    or the backend's error when it cannot say where the bridge is. Viewers catching up
    after a reconnect storm ask for the same project at once; for a couple of seconds they
    share one lookup. The upstream holder always asks ``fresh``.
    """
    cached = _targets.get(public_id)
    if not fresh and cached is not None and cached[0] > time.monotonic():
        return cached[1]
    project = await database_sync_to_async(_visible_project, thread_sensitive=False)(public_id)
    if project is None or project.status != Status.RUNNING:
        raise BridgeError(409, NOT_RUNNING, "The project is not running.")
    endpoint = await aendpoint_for(project)
    _targets[public_id] = (time.monotonic() + TARGET_CACHE_SECONDS, endpoint)
    return endpoint
