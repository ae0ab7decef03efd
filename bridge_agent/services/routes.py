"""The service endpoints: the same handlers behind the bridge's token (the control plane)
and behind the unix socket in the home (the agent's tool and ``starter-service``)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bridge_agent import protocol
from bridge_agent.concurrency import until_first_done
from bridge_agent.errors import ApiError
from bridge_agent.inputs import json_object
from bridge_agent.services.logfile import MAX_TAIL_LINES, LogFollower, ServiceLog
from bridge_agent.services.supervisor import ServiceSupervisor

DEFAULT_TAIL_LINES = 200
FINAL_WRITE_TIMEOUT = 0.5


def supervisor_of(request: Request) -> ServiceSupervisor:
    supervisor: ServiceSupervisor = request.app.state.services
    return supervisor


def shutdown_of(request: Request) -> asyncio.Event:
    shutting_down: asyncio.Event = request.app.state.shutting_down
    return shutting_down


async def services_list(request: Request) -> Response:
    return JSONResponse({"services": supervisor_of(request).all()})


async def services_define(request: Request) -> Response:
    body = await json_object(request)
    service, created = await supervisor_of(request).define(body)
    return JSONResponse(service, status_code=201 if created else 200)


async def service_detail(request: Request) -> Response:
    return JSONResponse(supervisor_of(request).get(request.path_params["name"]))


async def service_remove(request: Request) -> Response:
    name = request.path_params["name"]
    await supervisor_of(request).remove(name)
    return JSONResponse({"ok": True, "name": name})


async def service_action(request: Request) -> Response:
    service = await supervisor_of(request).act(
        request.path_params["name"], request.path_params["action"]
    )
    return JSONResponse(service, status_code=202 if request.path_params["action"] == "run" else 200)


async def service_runs(request: Request) -> Response:
    return JSONResponse({"runs": await supervisor_of(request).runs(request.path_params["name"])})


async def service_logs(request: Request) -> Response:
    supervisor = supervisor_of(request)
    name = request.path_params["name"]
    lines = _lines(request.query_params.get("lines"))
    follow = request.query_params.get("follow", "") in {"1", "true"}
    if not follow:
        return JSONResponse({"lines": supervisor.log_tail(name, lines)})
    log = supervisor.service_log(name)
    # Subscribed before the tail is read: a line written in between is sent twice at worst,
    # never lost.
    follower = log.follow()
    tail = supervisor.log_tail(name, lines)
    return LogStreamResponse(log, follower, tail, shutdown_of(request), keepalive=15.0)


def _lines(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_TAIL_LINES
    if not value.isdigit() or not 0 <= int(value) <= MAX_TAIL_LINES:
        raise ApiError(
            400, "invalid_field", f"'lines' must be a whole number from 0 to {MAX_TAIL_LINES}."
        )
    return int(value)


def log_frame(line: str) -> bytes:
    data = json.dumps({"line": line}, ensure_ascii=False)
    return f"event: log\ndata: {data}\n\n".encode()


class LogStreamResponse(Response):
    """SSE of ``log`` events: the tail, then each new line. Ends on the client's disconnect,
    the bridge's shutdown, the service's removal, or a reader that fell too far behind."""

    media_type = "text/event-stream"

    def __init__(
        self,
        log: ServiceLog,
        follower: LogFollower,
        tail: list[str],
        shutdown: asyncio.Event,
        keepalive: float,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        self.log = log
        self.follower = follower
        self.tail = tail
        self.shutdown = shutdown
        self.keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await until_first_done(
                self._write(send), self._wait_disconnect(receive), self.shutdown.wait()
            )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": b"", "more_body": False}),
                    FINAL_WRITE_TIMEOUT,
                )
        finally:
            self.log.unfollow(self.follower)

    async def _write(self, send: Send) -> None:
        await self._send(send, b"retry: 2000\n\n" + b"".join(log_frame(line) for line in self.tail))
        while True:
            try:
                lines = await asyncio.wait_for(self.follower.next_lines(), self.keepalive)
            except TimeoutError:
                await self._send(send, b": keep-alive\n\n")
                continue
            if lines is None:
                return
            await self._send(send, b"".join(log_frame(line) for line in lines))

    @staticmethod
    async def _send(send: Send, body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})

    @staticmethod
    async def _wait_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass


routes = [
    Route(protocol.SERVICES_PATH, services_list, methods=["GET"]),
    Route(protocol.SERVICES_PATH, services_define, methods=["POST"]),
    Route(protocol.SERVICE_LOGS_PATH, service_logs, methods=["GET"]),
    Route(protocol.SERVICE_RUNS_PATH, service_runs, methods=["GET"]),
    Route(protocol.SERVICE_ACTION_PATH, service_action, methods=["POST"]),
    Route(protocol.SERVICE_PATH, service_detail, methods=["GET"]),
    Route(protocol.SERVICE_PATH, service_remove, methods=["DELETE"]),
]
