"""The terminal endpoints (``protocol.TERMINALS_PATH`` and its socket); see terminals.py.

Everything here is behind the bridge's token (auth.py), like every ``/starter/*`` path, and
the control plane never lets a preview host reach ``/starter/*``: only the control plane's
terminal relay (projects/relay/terminal.py) opens these sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bridge_agent import protocol
from bridge_agent.concurrency import until_first_done
from bridge_agent.errors import ApiError
from bridge_agent.inputs import json_object
from bridge_agent.terminals import (
    DEFAULT_COLS,
    DEFAULT_ROWS,
    Reader,
    Terminal,
    TerminalError,
    TerminalManager,
    checked_size,
)

CLOSE_BAD_MESSAGE = 4400
CLOSE_TOO_BIG = 1009


def terminals_of(request: Request | WebSocket) -> TerminalManager:
    manager: TerminalManager = request.app.state.runtime.terminals
    return manager


async def terminals_list(request: Request) -> Response:
    return JSONResponse({"terminals": terminals_of(request).list()})


async def terminals_create(request: Request) -> Response:
    body = await json_object(request)
    unknown = set(body) - {"cols", "rows"}
    if unknown:
        raise ApiError(400, "invalid_field", f"Unknown field(s) {sorted(unknown)}.")
    try:
        cols, rows = checked_size(body.get("cols", DEFAULT_COLS), body.get("rows", DEFAULT_ROWS))
    except ValueError as problem:
        raise ApiError(400, "invalid_field", f"{problem}.") from None
    try:
        terminal = await terminals_of(request).create(cols, rows)
    except TerminalError as error:
        raise ApiError(409, error.code, error.message) from None
    return JSONResponse({"terminal": terminal.describe()}, status_code=201)


async def terminal_delete(request: Request) -> Response:
    if not await terminals_of(request).remove(str(request.path_params["terminal_id"])):
        raise ApiError(404, "not_found", "No such terminal; its shell may have ended.")
    return JSONResponse({"closed": True})


def control_message(text: str) -> tuple[str, Any]:
    """A client's text frame as ``("input", bytes)`` or ``("resize", (cols, rows))``;
    ``ValueError`` saying why not."""
    try:
        message = json.loads(text)
    except ValueError:
        raise ValueError("control frames are JSON objects") from None
    if not isinstance(message, dict):
        raise ValueError("control frames are JSON objects")
    kind = message.get("type")
    if kind == "input":
        data = message.get("data")
        if not isinstance(data, str):
            raise ValueError("'data' must be a string")
        return "input", data.encode(errors="surrogatepass")
    if kind == "resize":
        return "resize", checked_size(message.get("cols"), message.get("rows"))
    raise ValueError("'type' must be input or resize")


async def terminal_socket(websocket: WebSocket) -> None:
    terminal = terminals_of(websocket).get(str(websocket.path_params["terminal_id"]))
    await websocket.accept()
    if terminal is None:
        await websocket.close(protocol.TERMINAL_CLOSE_NOT_FOUND, "No such terminal.")
        return
    reader, recent = terminal.attach()
    try:
        if recent:
            await websocket.send_bytes(recent)
        await websocket.send_text(protocol.TERMINAL_LIVE_FRAME)
        results = await until_first_done(
            _output(websocket, terminal, reader), _input(websocket, terminal)
        )
        code, reason = next((result for result in results if isinstance(result, tuple)), (1000, ""))
    finally:
        terminal.detach(reader)
    with contextlib.suppress(Exception):
        await websocket.close(code, reason)


async def _output(websocket: WebSocket, terminal: Terminal, reader: Reader) -> tuple[int, str]:
    while (data := await reader.next()) is not None:
        await websocket.send_bytes(data)
    if reader.dropped:
        return protocol.TERMINAL_CLOSE_TOO_SLOW, "Too far behind; reattach."
    await terminal.exited.wait()
    await websocket.send_text(json.dumps({"type": "exit", "code": terminal.exit_code}))
    return 1000, "The shell ended."


async def _input(websocket: WebSocket, terminal: Terminal) -> tuple[int, str] | None:
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        raw: bytes | None = message.get("bytes")
        text: str | None = message.get("text")
        size = len(raw) if raw is not None else len(text or "")
        if size > protocol.MAX_TERMINAL_INPUT_BYTES * 2:
            return CLOSE_TOO_BIG, "Input frame too large."
        if raw is not None:
            data = raw
        else:
            try:
                kind, value = control_message(text or "")
            except ValueError as problem:
                return CLOSE_BAD_MESSAGE, str(problem)[:120]
            if kind == "resize":
                terminal.resize(*value)
                continue
            data = value
        if len(data) > protocol.MAX_TERMINAL_INPUT_BYTES:
            return CLOSE_TOO_BIG, "Input frame too large."
        terminal.write(data)
        # Let output go out between a burst of input frames.
        await asyncio.sleep(0)


routes = [
    Route(protocol.TERMINALS_PATH, terminals_list, methods=["GET"]),
    Route(protocol.TERMINALS_PATH, terminals_create, methods=["POST"]),
    Route(protocol.TERMINAL_PATH, terminal_delete, methods=["DELETE"]),
    WebSocketRoute(protocol.TERMINAL_SOCKET_PATH, terminal_socket),
]
