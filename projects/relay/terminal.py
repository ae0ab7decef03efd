"""``/ws/projects/<public_id>/terminals/<terminal_id>/``: one terminal's bytes, both ways.

The browser never reaches the Sprite: this relay authenticates the person exactly like the
project socket (WebsocketAuthMiddleware: the session from the dashboard's origin, or an API
token), finds the project through the scoped lookup, and only then connects to the bridge's
terminal socket with the bridge token (``protocol.TERMINAL_SOCKET_PATH``).

Roles: any member of the project's organisation may attach and read the output; a viewer's
input and resize frames are dropped here (only its acks are read), and creating or closing
a terminal (API and dashboard) needs the member role.

Close codes: 4401 nobody logged in; 4404 no such project for this person, or no such
terminal (a malformed id, or a shell that ended); 4409 the project is not running (a
terminal never wakes a Sprite by being opened: the panel creates a terminal first, which
does); 4413 an input frame too large; 4502 the bridge cannot be reached. The bridge's own
close code (1000 after ``{"type": "exit"}``, 4408 for a reader too far behind, 4400 for a
malformed control frame) is passed on; its 1009 becomes 4413.

Flow control: daphne queues whatever is sent to a browser without limit, so the relay sends
at most ``FLOW_WINDOW_BYTES`` of output the browser has not acknowledged. The browser sends
``{"type": "ack", "bytes": N}`` (N: all output bytes it has taken so far); the relay answers
it and never passes it to the bridge. Past the window the relay stops reading the bridge,
whose own bounded reader then drops this socket (4408) if the shell keeps printing: memory
stays bounded end to end, and the browser reattaches with the recent output.

Idle sleep: an open terminal is *not* presence (an idle shell must not keep a project awake
forever). Input typed and output printed count as activity instead, recorded at most once
per ``ACTIVITY_TOUCH_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import websockets
from channels.db import database_sync_to_async
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed

from bridge_agent import protocol
from bridge_agent.asgi_proxy import NO_CLOSE_FRAME
from bridge_agent.concurrency import until_first_done
from bridge_agent.terminals import valid_terminal_id
from organisations.roles import Ability, allows
from projects.bridge.events import bridge_target
from projects.errors import BridgeError
from projects.lifecycle.activity import touch_project_id
from projects.lookup import find_project_for_user
from projects.relay.revocation import until_removed

logger = logging.getLogger(__name__)

Receive = Any
Send = Any

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = protocol.TERMINAL_CLOSE_NOT_FOUND
CLOSE_NOT_RUNNING = 4409
CLOSE_BRIDGE_UNREACHABLE = 4502
# daphne sends only 1000 and 3000-4999 (application codes): 4413 is "message too big".
CLOSE_TOO_BIG = 4413
# A frame from the browser: input (a paste) or a JSON control message with its quoting.
MAX_CLIENT_FRAME_BYTES = protocol.MAX_TERMINAL_INPUT_BYTES * 2
ACTIVITY_TOUCH_SECONDS = 30.0
FLOW_WINDOW_BYTES = 1024 * 1024
# A text frame this short may be an ack; longer ones are input and resize frames for the bridge.
MAX_ACK_FRAME_CHARS = 100
# Output frames from the bridge are at most its read size; anything far larger is refused.
MAX_UPSTREAM_FRAME_BYTES = protocol.TERMINAL_BUFFER_BYTES + 65536


class ActivityClock:
    """Records the project's activity at most once per ``interval`` seconds."""

    def __init__(self, project_id: int, interval: float = ACTIVITY_TOUCH_SECONDS) -> None:
        self.project_id = project_id
        self.interval = interval
        self._last = float("-inf")

    async def tick(self) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        await database_sync_to_async(touch_project_id, thread_sensitive=False)(self.project_id)


class FlowWindow:
    """Output sent to the browser and not yet acknowledged, at most ``limit`` bytes."""

    def __init__(self, limit: int = FLOW_WINDOW_BYTES) -> None:
        self.limit = limit
        self.sent = 0
        self.acked = 0
        self._room = asyncio.Event()
        self._room.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    def add_sent(self, size: int) -> None:
        self.sent += size
        if self.sent - self.acked >= self.limit:
            self._room.clear()

    def ack(self, total: object) -> bool:
        """Takes the browser's running total; False for one that cannot be (not a number,
        going back, or more than was sent)."""
        if isinstance(total, bool) or not isinstance(total, int):
            return False
        if not self.acked <= total <= self.sent:
            return False
        self.acked = total
        if self.sent - self.acked < self.limit:
            self._room.set()
        return True


def ack_total(text: str) -> object | None:
    """The ``bytes`` of an ack frame, or None when ``text`` is not an ack."""
    if len(text) > MAX_ACK_FRAME_CHARS or '"ack"' not in text:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("type") == "ack":
        return message.get("bytes")
    return None


class TerminalRelay:
    """The ASGI app of the terminal socket (routed in projects/relay/routing.py)."""

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        # Accept first: only an accepted websocket can be closed with an application code.
        await send({"type": "websocket.accept"})
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            await _close(send, CLOSE_UNAUTHENTICATED, "Log in first.")
            return
        kwargs = scope["url_route"]["kwargs"]
        public_id, terminal_id = str(kwargs["public_id"]), str(kwargs["terminal_id"])
        find = database_sync_to_async(find_project_for_user, thread_sensitive=False)
        project = await find(user, public_id) if valid_terminal_id(terminal_id) else None
        if project is None:
            await _close(send, CLOSE_NOT_FOUND, "No such terminal.")
            return
        try:
            endpoint = await bridge_target(public_id)
        except BridgeError as error:
            code = CLOSE_NOT_RUNNING if error.status == 409 else CLOSE_BRIDGE_UNREACHABLE
            await _close(send, code, error.message[:120])
            return
        url = "ws" + endpoint.base_url.removeprefix("http")
        url += protocol.terminal_socket_path(terminal_id)
        try:
            upstream = await websocket_connect(
                url,
                additional_headers=dict(endpoint.headers),
                open_timeout=10,
                max_size=MAX_UPSTREAM_FRAME_BYTES,
                compression=None,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as error:
            logger.info("terminal bridge of %s unreachable: %s", public_id, type(error).__name__)
            await _close(send, CLOSE_BRIDGE_UNREACHABLE, "The project's machine is not answering.")
            return
        activity = ActivityClock(project.pk)
        window = FlowWindow()
        # A viewer watches: its output flows, its input (keys, resizes) is dropped here.
        read_only = not allows(project.member_role, Ability.USE)
        try:
            results = await until_first_done(
                _browser_to_bridge(receive, upstream, activity, window, read_only),
                _bridge_to_browser(upstream, send, activity, window),
                _until_removed(int(user.pk), project.organisation_id),
            )
        finally:
            with contextlib.suppress(Exception):
                await upstream.close()
        for result in results:
            if isinstance(result, tuple):
                await _close(send, *result)


async def _until_removed(user_id: int, organisation_id: int) -> tuple[int, str]:
    """Removed from the project's organisation: the terminal closes at once."""
    await until_removed(user_id, organisation_id)
    return CLOSE_NOT_FOUND, "No longer a member."


async def _close(send: Send, code: int, reason: str = "") -> None:
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": code, "reason": reason})


async def _browser_to_bridge(
    receive: Receive,
    upstream: ClientConnection,
    activity: ActivityClock,
    window: FlowWindow,
    read_only: bool = False,
) -> tuple[int, str] | None:
    """Copies the browser's frames to the bridge; returns a close for the browser, or None
    when the browser left. `read_only` (a viewer): only its acks count, every other frame
    (input, resize) is dropped unseen by the bridge."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            with contextlib.suppress(Exception):
                await upstream.close()
            return None
        if message["type"] != "websocket.receive":
            continue
        text: str | None = message.get("text")
        data: bytes | None = message.get("bytes")
        size = len(text.encode(errors="surrogatepass")) if text is not None else len(data or b"")
        if size > MAX_CLIENT_FRAME_BYTES:
            return CLOSE_TOO_BIG, "Input frame too large."
        if text is not None and (total := ack_total(text)) is not None:
            if not window.ack(total):
                return CLOSE_BAD_MESSAGE, "An ack counts the output bytes taken so far."
            continue
        if read_only:
            continue
        try:
            # Awaiting the bridge's socket bounds what waits here: a browser typing faster
            # than the bridge takes it is slowed down, never buffered without limit.
            await upstream.send(text if text is not None else data or b"")
        except ConnectionClosed:
            return None  # the other direction reports the bridge's close
        if text is None or '"resize"' not in text:
            await activity.tick()


async def _bridge_to_browser(
    upstream: ClientConnection, send: Send, activity: ActivityClock, window: FlowWindow
) -> tuple[int, str]:
    # The replay of recent output comes before the bridge's "live" frame: not activity.
    live = False
    with contextlib.suppress(ConnectionClosed):
        async for frame in upstream:
            if isinstance(frame, str):
                live = live or frame == protocol.TERMINAL_LIVE_FRAME
                await send({"type": "websocket.send", "text": frame})
            else:
                await window.wait_for_room()
                await send({"type": "websocket.send", "bytes": frame})
                window.add_sent(len(frame))
                if live:
                    await activity.tick()
    return browser_close(upstream.close_code), upstream.close_reason or ""


def browser_close(code: int | None) -> int:
    """The code to close the browser's socket with, for the bridge's close ``code``."""
    if code in NO_CLOSE_FRAME:
        return CLOSE_BRIDGE_UNREACHABLE
    assert code is not None
    if code == 1000 or 3000 <= code <= 4999:
        return code
    return CLOSE_TOO_BIG if code == 1009 else CLOSE_BRIDGE_UNREACHABLE
