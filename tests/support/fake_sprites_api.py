"""A fake of the Fly Sprites API that speaks its wire protocol (reference/sprites-api.md §7).

REST for sprites, files, checkpoints (NDJSON + bare array with ``Current``), services
(NDJSON), network policy; the exec WebSocket with binary frames ``0x00``..``0x04`` and a
one-byte exit code. Commands and services really run (see ``fake_sprites_state``): a
service that exits by itself is restarted with backoff (``restart_count``,
``next_restart_at``), its output is kept for ``GET .../services/{s}/logs``, and a cold stop
keeps it to start again on wake; ``POST .../restart`` restarts one.
Fault injection: 429 on create with ``Retry-After``, exec sockets closed before the exit
frame, slow handshakes (``state.faults``, or ``POST /_fake/faults``).

In tests: ``with running_fake_sprites_api(tmp_path, token) as fake: fake.base_url``.
From the command line: ``python -m tests.support.fake_sprites_api --port P --token T``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import stat as stat_module
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.support.fake_sprites_state import (
    SPRITE_HOME,
    FakeService,
    FakeSprite,
    FakeSpritesState,
    free_port,
    now_iso,
)

STDIN, STDOUT, STDERR, EXIT, STDIN_EOF = 0, 1, 2, 3, 4


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


def _fs_error(status: int, code: str, message: str, path: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code, "path": path}, status_code=status)


def _ndjson(events: Sequence[dict[str, Any]]) -> Response:
    body = "".join(json.dumps(event) + "\n" for event in events)
    return Response(body, media_type="application/x-ndjson")


def _authorized(headers: Any, token: str) -> bool:
    return str(headers.get("authorization", "")) == f"Bearer {token}"


def build_app(state: FakeSpritesState) -> Starlette:
    def sprite_or_error(request: Request, *, wake: bool = True) -> FakeSprite | Response:
        if not _authorized(request.headers, state.token):
            return _error(401, "unauthorized", "Invalid or missing token")
        sprite = state.sprites.get(request.path_params["name"])
        if sprite is None:
            return _error(404, "not_found", "Sprite not found")
        if wake:  # reading a sprite's metadata does not wake it; using it does
            state.touch(sprite)
        return sprite

    # -- sprites ---------------------------------------------------------------------

    async def sprites_collection(request: Request) -> Response:
        if not _authorized(request.headers, state.token):
            return _error(401, "unauthorized", "Invalid or missing token")
        if request.method == "POST":
            return await create_sprite(request)
        prefix = request.query_params.get("prefix", "")
        limit = int(request.query_params.get("max_results", "50"))
        start = int(request.query_params.get("continuation_token") or 0)
        matching = [s for n, s in sorted(state.sprites.items()) if n.startswith(prefix)]
        page = matching[start : start + limit]
        has_more = start + limit < len(matching)
        statuses = [s.status for s in state.sprites.values()]
        return JSONResponse(
            {
                "sprites": [s.as_json(state.organization) for s in page],
                "has_more": has_more,
                "next_continuation_token": str(start + limit) if has_more else None,
                "running": statuses.count("running"),
                "warm": statuses.count("warm"),
                "cold": statuses.count("cold"),
                "name": state.organization,
            }
        )

    async def create_sprite(request: Request) -> Response:
        if state.faults.rate_limit_creates > 0:
            state.faults.rate_limit_creates -= 1
            retry = state.faults.retry_after_seconds
            response = _error(
                429,
                "sprite_creation_rate_limited",
                "Too many sprites created; try again later",
                limit=10,
                window_seconds=60,
                retry_after_seconds=retry,
                current_count=10,
            )
            response.headers["Retry-After"] = str(retry)
            return response
        body = await request.json()
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return _error(400, "invalid_request", "name is required")
        if name in state.sprites:
            return _error(400, "already_exists", f"Sprite {name} already exists")
        sprite = state.create(name, body.get("url_settings") or {}, body.get("labels") or [])
        return JSONResponse(sprite.as_json(state.organization), status_code=201)

    async def sprite_resource(request: Request) -> Response:
        sprite = sprite_or_error(request, wake=False)
        if isinstance(sprite, Response):
            return sprite
        if request.method == "DELETE":
            state.delete(sprite)
            return Response(status_code=204)
        if request.method == "PUT":
            body = await request.json()
            if "url_settings" in body and body["url_settings"] is not None:
                sprite.url_settings = {**sprite.url_settings, **body["url_settings"]}
            if body.get("clear_labels"):
                sprite.labels = []
            if body.get("labels") is not None:
                sprite.labels = list(body["labels"])
            sprite.updated_at = now_iso()
        return JSONResponse(sprite.as_json(state.organization))

    # -- exec ------------------------------------------------------------------------

    async def exec_socket(websocket: WebSocket) -> None:
        if state.faults.handshake_delay:
            await asyncio.sleep(state.faults.handshake_delay)
        if not _authorized(websocket.headers, state.token):
            await websocket.send_denial_response(
                _error(401, "unauthorized", "Invalid or missing token")
            )
            return
        sprite = state.sprites.get(websocket.path_params["name"])
        if sprite is None:
            await websocket.send_denial_response(_error(404, "not_found", "Sprite not found"))
            return
        state.touch(sprite)
        query = websocket.query_params
        argv = query.getlist("cmd")
        tty = query.get("tty") == "true"
        env_pairs = [pair.split("=", 1) for pair in query.getlist("env") if "=" in pair]
        # The exec env parameter replaces the default environment (API docs).
        environment = dict(env_pairs) if env_pairs else sprite.default_environment(state.extra_path)
        cwd = sprite.host_path(query.get("dir") or SPRITE_HOME)
        await websocket.accept()
        if not argv:
            await websocket.close(code=1008, reason="cmd is required")
            return
        drop = state.faults.exec_drops > 0
        if drop:
            state.faults.exec_drops -= 1
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=environment,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            await _send(websocket, tty, STDERR, f"exec: {error}\n".encode())
            await _send_exit(websocket, tty, 127)
            await websocket.close(1000)
            return
        await _relay_process(websocket, process, tty=tty, drop_exit=drop)

    async def exec_sessions(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        return JSONResponse({"sessions": []})

    # -- filesystem ------------------------------------------------------------------

    async def fs_read(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        path = request.query_params.get("path", "")
        target = sprite.host_path(path, request.query_params.get("workingDir"))
        if target.is_dir():
            return _fs_error(400, "EISDIR", "is a directory", path)
        if not target.is_file():
            return _fs_error(404, "ENOENT", "no such file or directory", path)
        return Response(target.read_bytes(), media_type="application/octet-stream")

    async def fs_write(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        query = request.query_params
        path = query.get("path", "")
        target = sprite.host_path(path, query.get("workingDir"))
        mkdir = (query.get("mkdirParents") or query.get("mkdir") or "false") == "true"
        if target.is_dir():
            return _fs_error(400, "EISDIR", "is a directory", path)
        if not target.parent.is_dir():
            if not mkdir:
                return _fs_error(404, "ENOENT", "parent directory does not exist", path)
            if target.parent.exists():
                return _fs_error(400, "ENOTDIR", "not a directory", path)
            target.parent.mkdir(parents=True)
        data = await request.body()
        if len(data) > 16 * 1024 * 1024:
            return _fs_error(413, "EINVAL", "file too large", path)
        target.write_bytes(data)
        mode = int(query.get("mode", "0644"), 8)
        target.chmod(mode)
        return JSONResponse(
            {"path": sprite.sprite_path(target), "size": len(data), "mode": f"{mode:04o}"}
        )

    async def fs_list(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        path = request.query_params.get("path", "")
        target = sprite.host_path(path, request.query_params.get("workingDir"))
        if not target.exists():
            return _fs_error(404, "ENOENT", "no such file or directory", path)
        children = sorted(target.iterdir()) if target.is_dir() else [target]
        entries = [_entry(sprite, child) for child in children]
        return JSONResponse(
            {"path": sprite.sprite_path(target), "entries": entries, "count": len(entries)}
        )

    async def fs_delete(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        params: dict[str, Any] = dict(request.query_params)
        if not params.get("path"):
            with contextlib.suppress(ValueError):
                params.update(await request.json())
        path = str(params.get("path", ""))
        recursive = str(params.get("recursive", "false")).lower() == "true"
        target = sprite.host_path(path, params.get("workingDir"))
        if target == sprite.root or target == sprite.host_path(SPRITE_HOME):
            return _fs_error(403, "EPERM", "operation not permitted", path)
        if not target.exists() and not target.is_symlink():
            return _fs_error(404, "ENOENT", "no such file or directory", path)
        if target.is_dir() and not target.is_symlink():
            if any(target.iterdir()) and not recursive:
                return _fs_error(400, "ENOTEMPTY", "directory not empty", path)
            shutil.rmtree(target)
        else:
            target.unlink()
        return JSONResponse({"deleted": [sprite.sprite_path(target)], "count": 1})

    # -- checkpoints -----------------------------------------------------------------

    async def checkpoint_create(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        body: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            body = await request.json()
        comment = str(body.get("comment") or "")
        started = {"type": "info", "data": "Creating checkpoint...", "time": now_iso()}
        checkpoint_id = await state.create_checkpoint(sprite, comment)
        return _ndjson(
            [
                started,
                {"type": "info", "data": f"ID: {checkpoint_id}", "time": now_iso()},
                {
                    "type": "complete",
                    "data": f"Checkpoint {checkpoint_id} created successfully",
                    "time": now_iso(),
                },
            ]
        )

    async def checkpoints_list(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        current = {"id": "Current", "create_time": now_iso(), "comment": "", "is_auto": False}
        return JSONResponse([*reversed(sprite.checkpoints), current])

    async def checkpoint_get(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        for checkpoint in sprite.checkpoints:
            if checkpoint["id"] == request.path_params["checkpoint"]:
                return JSONResponse(checkpoint)
        return _error(404, "not_found", "Checkpoint not found")

    async def checkpoint_restore(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        checkpoint_id = request.path_params["checkpoint"]
        if checkpoint_id not in {c["id"] for c in sprite.checkpoints}:
            return _error(404, "not_found", "Checkpoint not found")
        await state.restore_checkpoint(sprite, checkpoint_id)
        return _ndjson(
            [
                {"type": "info", "data": f"Restoring {checkpoint_id}...", "time": now_iso()},
                {"type": "complete", "data": f"Restored {checkpoint_id}", "time": now_iso()},
            ]
        )

    # -- services --------------------------------------------------------------------

    async def services_list(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        listed = [s.as_json() for s in sprite.services.values()]
        if state.faults.hide_service_env:
            listed = [{k: v for k, v in item.items() if k != "env"} for item in listed]
        return JSONResponse(listed)

    async def service_resource(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        name = request.path_params["service"]
        service = sprite.services.get(name)
        if request.method == "PUT":
            return await service_put(request, sprite, name)
        if service is None:
            return _error(404, "not_found", f"Service {name} not found")
        if request.method == "DELETE":
            await asyncio.to_thread(state.stop_process, service)
            sprite.services.pop(name, None)
            return Response(status_code=204)
        return JSONResponse(service.as_json())

    async def service_put(request: Request, sprite: FakeSprite, name: str) -> Response:
        body = await request.json()
        if not isinstance(body.get("cmd"), str) or not body["cmd"]:
            return _error(400, "invalid_request", "cmd is required")
        http_port = body.get("http_port")
        for other in sprite.services.values():
            if other.name != name and http_port is not None and other.http_port is not None:
                return _error(409, "conflict", f"Service {other.name} already owns the HTTP port")
        previous = sprite.services.get(name)
        if previous is not None:
            await asyncio.to_thread(state.stop_process, previous)
        service = FakeService(
            name=name,
            cmd=body["cmd"],
            args=list(body.get("args") or []),
            needs=list(body.get("needs") or []),
            http_port=http_port,
            env=dict(body.get("env") or {}),
            dir=body.get("dir"),
        )
        sprite.services[name] = service
        return _ndjson(await _start_events(service, sprite))

    async def _start_events(service: FakeService, sprite: FakeSprite) -> list[dict[str, Any]]:
        state.start_service(sprite, service)
        await asyncio.sleep(0.2)
        events: list[dict[str, Any]] = [{"type": "started", "timestamp": _millis()}]
        if service.process is not None and service.process.poll() is not None:
            events.append(
                {"type": "exit", "exit_code": service.process.returncode, "timestamp": _millis()}
            )
        events.append({"type": "complete", "timestamp": _millis()})
        return events

    async def service_start(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        service = sprite.services.get(request.path_params["service"])
        if service is None:
            return _error(404, "not_found", "Service not found")
        if service.status == "running":
            return _ndjson([{"type": "complete", "timestamp": _millis()}])
        return _ndjson(await _start_events(service, sprite))

    async def service_stop(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        service = sprite.services.get(request.path_params["service"])
        if service is None:
            return _error(404, "not_found", "Service not found")
        if service.process is None:  # a crashed one waiting for its restart can be stopped
            return _error(409, "conflict", "Service is not running")
        await asyncio.to_thread(state.stop_process, service)
        service.was_running = False
        return _ndjson(
            [
                {"type": "stopping", "timestamp": _millis()},
                {"type": "stopped", "exit_code": 0, "timestamp": _millis()},
                {"type": "complete", "timestamp": _millis()},
            ]
        )

    async def service_restart(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        service = sprite.services.get(request.path_params["service"])
        if service is None:
            return _error(404, "not_found", "Service not found")
        await asyncio.to_thread(state.stop_process, service)
        stopped = [
            {"type": "stopping", "timestamp": _millis()},
            {"type": "stopped", "exit_code": 0, "timestamp": _millis()},
        ]
        return _ndjson([*stopped, *await _start_events(service, sprite)])

    async def service_logs(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        service = sprite.services.get(request.path_params["service"])
        if service is None:
            return _error(404, "not_found", "Service not found")
        try:
            lines = max(1, min(int(request.query_params.get("lines", "100")), 10_000))
        except ValueError:
            return _error(400, "invalid_request", "lines must be a number")
        output = await asyncio.to_thread(state.read_log, service, lines)
        events = [
            {"type": "stdout", "data": line + "\n", "timestamp": _millis()} for line in output
        ]
        return _ndjson([*events, {"type": "complete", "timestamp": _millis()}])

    # -- network policy --------------------------------------------------------------

    async def network_policy(request: Request) -> Response:
        sprite = sprite_or_error(request)
        if isinstance(sprite, Response):
            return sprite
        if request.method == "GET":
            return JSONResponse(sprite.network_policy)
        body = await request.json()
        rules = body.get("rules")
        valid = isinstance(rules, list) and all(
            isinstance(rule, dict)
            and (rule.get("include") or rule.get("action") in ("allow", "deny"))
            for rule in rules
        )
        if not valid:
            return _error(400, "invalid_policy", "rules must be a list of allow/deny rules")
        sprite.network_policy = {"rules": rules}
        return Response(status_code=204)

    # -- the sprite URL (auth "sprite": an org token) --------------------------------

    async def sprite_url(request: Request) -> Response:
        sprite = state.sprites.get(request.path_params["name"])
        if sprite is None:
            return _error(404, "not_found", "Sprite not found")
        public = sprite.url_settings.get("auth") == "public"
        if not public and not _authorized(request.headers, state.token):
            return _error(401, "unauthorized", "This sprite URL needs an organization token")
        state.touch(sprite)
        for service in sprite.services.values():
            if service.http_port is not None and service.status != "running":
                state.start_service(sprite, service)
        return await _proxy(request, sprite.http_host_port, request.path_params["path"])

    async def faults(request: Request) -> Response:
        if not _authorized(request.headers, state.token):
            return _error(401, "unauthorized", "Invalid or missing token")
        for key, value in (await request.json()).items():
            setattr(state.faults, key, value)
        return JSONResponse(vars(state.faults))

    prefix = "/v1/sprites/{name}"
    routes = [
        Route("/v1/sprites", sprites_collection, methods=["GET", "POST"]),
        Route(prefix, sprite_resource, methods=["GET", "PUT", "DELETE"]),
        WebSocketRoute(f"{prefix}/exec", exec_socket),
        Route(f"{prefix}/exec", exec_sessions, methods=["GET"]),
        Route(f"{prefix}/fs/read", fs_read, methods=["GET"]),
        Route(f"{prefix}/fs/write", fs_write, methods=["PUT"]),
        Route(f"{prefix}/fs/list", fs_list, methods=["GET"]),
        Route(f"{prefix}/fs/delete", fs_delete, methods=["DELETE"]),
        Route(f"{prefix}/checkpoint", checkpoint_create, methods=["POST"]),
        Route(f"{prefix}/checkpoints", checkpoints_list, methods=["GET"]),
        Route(f"{prefix}/checkpoints/{{checkpoint}}", checkpoint_get, methods=["GET"]),
        Route(f"{prefix}/checkpoints/{{checkpoint}}/restore", checkpoint_restore, methods=["POST"]),
        Route(f"{prefix}/services", services_list, methods=["GET"]),
        Route(f"{prefix}/services/{{service}}", service_resource, methods=["GET", "PUT", "DELETE"]),
        Route(f"{prefix}/services/{{service}}/start", service_start, methods=["POST"]),
        Route(f"{prefix}/services/{{service}}/stop", service_stop, methods=["POST"]),
        Route(f"{prefix}/services/{{service}}/restart", service_restart, methods=["POST"]),
        Route(f"{prefix}/services/{{service}}/logs", service_logs, methods=["GET"]),
        Route(f"{prefix}/policy/network", network_policy, methods=["GET", "POST"]),
        Route(
            "/_sprite/{name}/{path:path}",
            sprite_url,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
        Route("/_fake/faults", faults, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _millis() -> int:
    return int(time.time() * 1000)


def _entry(sprite: FakeSprite, path: Path) -> dict[str, Any]:
    info = path.lstat()
    return {
        "name": path.name,
        "path": sprite.sprite_path(path),
        "type": "directory" if path.is_dir() else "file",
        "size": info.st_size,
        "mode": f"{stat_module.S_IMODE(info.st_mode):04o}",
        "modTime": datetime.fromtimestamp(info.st_mtime, UTC).isoformat().replace("+00:00", "Z"),
        "isDir": path.is_dir(),
    }


async def _send(websocket: WebSocket, tty: bool, stream: int, payload: bytes) -> None:
    await websocket.send_bytes(payload if tty else bytes([stream]) + payload)


async def _send_exit(websocket: WebSocket, tty: bool, code: int) -> None:
    if tty:
        await websocket.send_text(json.dumps({"type": "exit", "exit_code": code}))
    else:
        # The exit code is one byte on the wire: codes are taken mod 256.
        await websocket.send_bytes(bytes([EXIT, code & 0xFF]))


async def _relay_process(
    websocket: WebSocket, process: asyncio.subprocess.Process, *, tty: bool, drop_exit: bool
) -> None:
    assert process.stdin and process.stdout and process.stderr

    async def pump(reader: asyncio.StreamReader, stream: int) -> None:
        while chunk := await reader.read(65536):
            await _send(websocket, tty, stream, chunk)

    async def feed() -> None:
        assert process.stdin
        with contextlib.suppress(WebSocketDisconnect, ConnectionError):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect()
                data = message.get("bytes")
                if not data:
                    continue
                if data[0] == STDIN:
                    process.stdin.write(data[1:])
                    await process.stdin.drain()
                elif data[0] == STDIN_EOF:
                    process.stdin.close()
        # The client went away: the command does not outlive it here.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    feeder = asyncio.create_task(feed())
    try:
        await asyncio.gather(pump(process.stdout, STDOUT), pump(process.stderr, STDERR))
        code = await process.wait()
        if drop_exit:
            await websocket.close(1011)
            return
        await _send_exit(websocket, tty, code if code >= 0 else 128 - code)
        await websocket.close(1000)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _proxy(request: Request, port: int, path: str) -> Response:
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in ("host", "authorization", "content-length")
    }
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
    url = f"http://127.0.0.1:{port}/{path}"
    if request.url.query:
        url += f"?{request.url.query}"
    upstream_request = client.build_request(
        request.method, url, headers=headers, content=await request.body()
    )
    upstream = None
    for _ in range(50):  # an auto-started service may still be binding its port
        try:
            upstream = await client.send(upstream_request, stream=True)
            break
        except httpx.ConnectError:
            await asyncio.sleep(0.1)
    if upstream is None:
        await client.aclose()
        return _error(502, "bad_gateway", "Nothing listens on the sprite's HTTP port")

    async def close() -> None:
        assert upstream is not None
        await upstream.aclose()
        await client.aclose()

    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers={
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        },
        background=BackgroundTask(close),
    )


@dataclass
class RunningFake:
    state: FakeSpritesState
    base_url: str
    token: str


@contextlib.contextmanager
def running_fake_sprites_api(
    base_dir: Path, token: str, *, extra_path: Sequence[str] = ()
) -> Iterator[RunningFake]:
    """Serve the fake on a free loopback port in a thread for the duration of the block."""
    state = FakeSpritesState(base_dir, token, extra_path=extra_path)
    port = free_port()
    state.public_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        build_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-sprites-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake Sprites API did not start")
        time.sleep(0.01)
    try:
        yield RunningFake(state, state.public_url, token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        state.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake of the Fly Sprites API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--extra-path", action="append", default=[], help="directories prepended to PATH"
    )
    args = parser.parse_args()
    base_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="fake-sprites-"))
    port = args.port or free_port()
    state = FakeSpritesState(base_dir, args.token, extra_path=args.extra_path)
    state.public_url = f"http://{args.host}:{port}"
    print(f"fake Sprites API on {state.public_url} (data in {base_dir})", flush=True)
    try:
        uvicorn.run(build_app(state), host=args.host, port=port, log_level="warning")
    finally:
        state.close()


if __name__ == "__main__":
    main()
