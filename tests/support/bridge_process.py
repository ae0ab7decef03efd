"""Run the real bridge (``python -m bridge_agent``) as a subprocess and read its event stream.

``BridgeProcess`` starts the bridge on a free loopback port (``--port 0 --port-file``), waits
until ``/starter/health`` answers, and stops it with SIGTERM (or SIGKILL, for crash tests).
With ``keeper=True`` it runs the bridge under ``bridge_agent.keeper`` as a Sprite does: on a
listening socket the test opens and hands in (``--listen-fd``), so the port survives restarts.
``EventStream`` follows ``GET /starter/events`` on a thread and lets a test wait for events.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-bridge-token"
_counter = itertools.count(1)

Envelope = dict[str, Any]


class BridgeProcess:
    def __init__(
        self,
        home: Path,
        *,
        token: str = TOKEN,
        app_port: int | None = None,
        idle_timeout: float | None = None,
        keepalive: float | None = None,
        prewarm: bool = False,
        env: dict[str, str] | None = None,
        keeper: bool = False,
    ) -> None:
        self.home = home
        self.keeper = keeper
        self.listener: socket.socket | None = None
        self.token = token
        self.app_port = app_port
        self.idle_timeout = idle_timeout
        self.keepalive = keepalive
        self.prewarm = prewarm
        self.extra_env = env or {}
        number = next(_counter)
        self.port_file = home.parent / f"bridge-{home.name}-{number}.port"
        self.log_path = home.parent / f"bridge-{home.name}-{number}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Starter-Token": self.token}

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def start(self, timeout: float = 30.0) -> BridgeProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port_file.unlink(missing_ok=True)
        pass_fds: tuple[int, ...] = ()
        if self.keeper:
            if self.listener is None:
                self.listener = socket.socket()
                self.listener.bind(("127.0.0.1", 0))
                self.listener.listen(2048)
            pass_fds = (self.listener.fileno(),)
            argv = [
                sys.executable, "-m", "bridge_agent.keeper", "--listen-fd",
                str(self.listener.fileno()), "--home", str(self.home),
                "--port-file", str(self.port_file),
            ]  # fmt: skip
        else:
            argv = [
                sys.executable, "-m", "bridge_agent", "--host", "127.0.0.1", "--port", "0",
                "--home", str(self.home), "--port-file", str(self.port_file),
            ]  # fmt: skip
        if self.app_port is not None:
            argv += ["--app-port", str(self.app_port)]
        if self.idle_timeout is not None:
            argv += ["--idle-timeout", str(self.idle_timeout)]
        if self.keepalive is not None:
            argv += ["--keepalive", str(self.keepalive)]
        if not self.prewarm:
            argv.append("--no-prewarm")
        env = {
            **os.environ,
            "STARTER_BRIDGE_TOKEN": self.token,
            "NO_PROXY": "127.0.0.1,localhost",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the bridge exited early:\n{self.log_tail()}")
            if self.port_file.exists():
                try:
                    self.port = int(self.port_file.read_text())
                    if httpx.get(f"{self.url}/starter/health", timeout=2).status_code == 200:
                        return self
                except (ValueError, httpx.HTTPError):
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"the bridge did not become healthy:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        return self.process.returncode

    def kept_bridge_pid(self, timeout: float = 10.0) -> int:
        """With ``keeper=True``: the pid of the bridge the keeper runs now (once it serves)."""
        assert self.process is not None and self.keeper
        deadline = time.monotonic() + timeout
        children_file = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        while True:
            children = children_file.read_text().split()
            if children:
                return int(children[0])
            if time.monotonic() > deadline:
                raise TimeoutError(f"the keeper runs no bridge:\n{self.log_tail()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine loses power or the OOM killer acts."""
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> BridgeProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class EventStream:
    """Follows ``GET /starter/events`` on a background thread.

    ``events`` holds every envelope received, with the SSE ``id:`` and ``event:`` lines
    checked against it. ``comments`` counts keep-alive comments.
    """

    def __init__(
        self,
        bridge: BridgeProcess,
        *,
        after: int | None = None,
        last_event_id: int | None = None,
    ) -> None:
        params = {"after": str(after)} if after is not None else {}
        headers = dict(bridge.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self._client = httpx.Client(base_url=bridge.url, headers=headers, timeout=None)  # noqa: S113 (a stream)
        self._request = self._client.build_request("GET", "/starter/events", params=params)
        self.events: list[Envelope] = []
        self.comments = 0
        self.status_code: int | None = None
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self._condition = threading.Condition()
        self._socket: socket.socket | None = None
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 10.0) -> EventStream:
        self._thread.start()
        if not self._connected.wait(timeout):
            raise TimeoutError("the event stream did not connect")
        return self

    def _run(self) -> None:
        try:
            response = self._client.send(self._request, stream=True)
            try:
                self.status_code = response.status_code
                stream = response.extensions.get("network_stream")
                if stream is not None:
                    self._socket = stream.get_extra_info("socket")
                self._connected.set()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                    elif line == "":
                        if "data" in fields:
                            self._dispatch(fields)
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value[1:] if value.startswith(" ") else value
            finally:
                response.close()
        except Exception as error:
            self.error = error
        finally:
            self._connected.set()
            self.ended.set()
            with self._condition:
                self._condition.notify_all()

    def _dispatch(self, fields: dict[str, str]) -> None:
        envelope = json.loads(fields["data"])
        assert str(envelope["id"]) == fields.get("id"), fields
        assert envelope["type"] == fields.get("event"), fields
        with self._condition:
            self.events.append(envelope)
            self._condition.notify_all()

    def wait_for(
        self, predicate: Callable[[Envelope], bool], timeout: float = 20.0, start: int = 0
    ) -> Envelope:
        """The first event (from index ``start``) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended.is_set():
                    types = [e["type"] for e in self.events[-30:]]
                    raise TimeoutError(f"no matching event; last types: {types}")
                self._condition.wait(min(remaining, 0.2))

    def wait_type(
        self, event_type: str, session_id: str | None = None, timeout: float = 20.0, start: int = 0
    ) -> Envelope:
        return self.wait_for(
            lambda e: (
                e["type"] == event_type and (session_id is None or e["session_id"] == session_id)
            ),
            timeout,
            start,
        )

    def of_type(self, event_type: str, session_id: str | None = None) -> list[Envelope]:
        with self._condition:
            return [
                e
                for e in self.events
                if e["type"] == event_type and (session_id is None or e["session_id"] == session_id)
            ]

    @property
    def ids(self) -> list[int]:
        with self._condition:
            return [e["id"] for e in self.events]

    def close(self) -> None:
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._client.close()

    def __enter__(self) -> EventStream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
