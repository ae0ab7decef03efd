"""Detached processes on this machine: start, find, stop, reap.

The local backend starts each bridge in its own session (so it outlives the Celery
worker that started it and can be stopped as a group). Whoever started a process keeps
its ``Popen`` in ``_started`` and reaps it the next time any process call is made here;
a bridge whose starter exited is reaped by init. Stopping walks ``/proc`` for the whole
tree, because pi processes may start sessions of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

_started: dict[int, subprocess.Popen[bytes]] = {}


def reap_started() -> None:
    """Collect the exit status of any process this Python process started that ended."""
    for pid, process in list(_started.items()):
        if process.poll() is not None:
            # pop, not del: the Celery worker's threads reap side by side, and two that saw
            # the same ended process both come here (a KeyError failed a destroy step).
            _started.pop(pid, None)


def spawn_detached(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    pass_fds: Sequence[int] = (),
) -> int:
    """Start ``argv`` in a new session with output appended to ``log_path``; its pid."""
    reap_started()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            pass_fds=tuple(pass_fds),
        )
    _started[process.pid] = process
    return process.pid


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def is_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie waiting to be reaped counts as ended)."""
    reap_started()
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def process_tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)] if is_alive(pid) else []


def _signal_tree(pids: Sequence[int], sig: signal.Signals) -> None:
    groups = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(pid))
    for group in groups:
        # Only groups led by one of our processes: never signal the caller's own group.
        if group in pids and group != os.getpgrp():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


async def stop_tree(pid: int, *, grace: float = 3.0) -> None:
    """SIGTERM ``pid`` and everything under it, SIGKILL what is left after ``grace``."""
    pids = process_tree(pid)
    if not pids:
        return
    _signal_tree(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not any(is_alive(p) for p in pids):
            return
        await asyncio.sleep(0.02)
    pids = [p for p in {*pids, *descendants(pid)} if is_alive(p)]
    _signal_tree(pids, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    # Polling: these processes are not our children, so there is nothing to wait on.
    while time.monotonic() < deadline and any(is_alive(p) for p in pids):  # noqa: ASYNC110
        await asyncio.sleep(0.02)


def loopback_listener(preferred: int | None = None) -> socket.socket:
    """A listening socket on this machine's loopback, on ``preferred`` when it is free,
    inheritable so a child (a Sprite's bridge) can serve on it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", preferred or 0))
    except OSError:
        listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


async def wait_until_healthy(
    url: str,
    *,
    pid: int,
    timeout: float,  # noqa: ASYNC109 (also bounds the retries, not one await)
    interval: float = 0.02,
) -> str | None:
    """Poll ``url`` until it answers 200. ``None`` when healthy, else why not."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            if not is_alive(pid):
                return "the bridge process exited while starting"
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                return f"the bridge did not answer its health check within {timeout:.0f} s"
            await asyncio.sleep(interval)
