"""``POST /starter/exec``: run one command in the Sprite, as the Sprite's own user.

The local backend's ``exec`` comes here, so a command runs inside the same sandbox, network
namespace and environment (the project's newest secrets) as the agent: a server it starts is
reachable by the preview and by the agent, and outlives the request like on a real machine.

A command ends when its main process ends. Output that background children keep writing
to the inherited pipes is read for a short grace period and then cut: waiting for their
end of file would hang the request for as long as the server runs. At ``timeout`` the
command's whole process group is killed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge_agent.config import TOKEN_ENV
from bridge_agent.errors import ApiError
from bridge_agent.inputs import json_object
from bridge_agent.services.paths import with_service_command

# The control plane answers at most 1 MiB of each stream; one byte more tells it to say so.
OUTPUT_LIMIT = 1024 * 1024 + 1
MAX_TIMEOUT = 600.0
# How long output is still read after the main process ended (from background children).
DRAIN_SECONDS = 0.3
# Readers of commands whose background children still write: owned here until their end
# of file (the children's exit); the bridge's shutdown ends them with the process.
_draining: set[asyncio.Future[Any]] = set()


def _argv(body: dict[str, Any]) -> list[str]:
    command = body.get("command")
    if isinstance(command, str) and command.strip():
        return ["bash", "-c", command]
    if (
        isinstance(command, list)
        and command
        and all(isinstance(part, str) for part in command)
        and command[0]
    ):
        return list(command)
    raise ApiError(400, "invalid_field", "'command' must be a string or a list of strings.")


def _timeout(body: dict[str, Any]) -> float:
    value = body.get("timeout", 60)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_TIMEOUT
    ):
        raise ApiError(
            400, "invalid_field", f"'timeout' is seconds, over 0 and at most {MAX_TIMEOUT:g}."
        )
    return float(value)


def _environment(body: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    """``base`` (the bridge's current environment, without its token) plus the body's
    ``env``, which may not bring the token back."""
    extra = body.get("env") or {}
    if not isinstance(extra, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in extra.items()
    ):
        raise ApiError(400, "invalid_field", "'env' must map names to strings.")
    environment = dict(base)
    environment.update({key: value for key, value in extra.items() if key != TOKEN_ENV})
    return environment


async def _read_capped(stream: asyncio.StreamReader, into: bytearray) -> None:
    """Read to the end, keeping the first OUTPUT_LIMIT bytes (the rest is drained, so the
    writer never blocks on a full pipe)."""
    while chunk := await stream.read(65536):
        room = OUTPUT_LIMIT - len(into)
        if room > 0:
            into += chunk[:room]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_command(
    argv: list[str],
    *,
    cwd: Path,
    environment: dict[str, str],
    timeout: float,  # noqa: ASYNC109 (a property of the command)
) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = bytearray(), bytearray()
    readers = asyncio.gather(
        _read_capped(process.stdout, stdout), _read_capped(process.stderr, stderr)
    )
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        timed_out = True
        _kill_group(process.pid)
        await process.wait()
    finally:
        if process.returncode is None:  # cancelled: the request went away
            _kill_group(process.pid)
    try:
        await asyncio.wait_for(asyncio.shield(readers), DRAIN_SECONDS)
    except TimeoutError:
        # Background children (a server the command started) still hold the pipes. The
        # answer goes now; their output is read and dropped until they close the pipes, so
        # they neither block on a full pipe nor die of a broken one.
        _draining.add(readers)
        readers.add_done_callback(_draining.discard)
    exit_code = process.returncode if process.returncode is not None else -1
    return {
        "exit_code": exit_code,
        "stdout": base64.b64encode(bytes(stdout)).decode(),
        "stderr": base64.b64encode(bytes(stderr)).decode(),
        "timed_out": timed_out,
    }


async def exec_command(request: Request) -> Response:
    body = await json_object(request)
    runtime = request.app.state.runtime
    home: Path = runtime.config.home
    # The runtime's environment, not os.environ: it holds the newest secrets; and the same
    # `starter-service` command the agent's shell has.
    environment = _environment(
        body, with_service_command(runtime.config, runtime.environment.for_child())
    )
    result = await run_command(
        _argv(body), cwd=home, environment=environment, timeout=_timeout(body)
    )
    return JSONResponse(result)
