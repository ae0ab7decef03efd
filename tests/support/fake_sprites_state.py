"""The state behind the fake Sprites API: sprites, their files, services, checkpoints.

Every fake sprite is a scratch directory standing for its root filesystem (``/`` of the
sprite maps to ``<base>/sprites/<name>/root``), with its home at ``/home/sprite``.
Commands and services really run, as processes on this machine, in that directory.
Port 8080 of a sprite (where its URL routes) is a free loopback port of this machine,
given to the service that declares ``http_port`` in ``$PORT`` (and ``$HOST=127.0.0.1``):
the one liberty the fake takes, because all its sprites share one network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import posixpath
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPRITE_HOME = "/home/sprite"
logger = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Faults:
    """Failures to inject, each consumed once per count."""

    rate_limit_creates: int = 0
    retry_after_seconds: int = 7
    exec_drops: int = 0
    handshake_delay: float = 0.0
    # The API's service listing may leave ``env`` out (reference §2: ``env?``).
    hide_service_env: bool = False


@dataclass
class FakeService:
    name: str
    cmd: str
    args: list[str]
    needs: list[str]
    http_port: int | None
    env: dict[str, str]
    dir: str | None
    process: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    restart_count: int = 0
    was_running: bool = False
    # Set when the process exited by itself: the supervisor starts it again then.
    next_restart_at: float | None = None
    log_path: Path | None = None

    @property
    def status(self) -> str:
        if self.process is None:
            return "stopped"
        return "running" if self.process.poll() is None else "failed"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cmd": self.cmd,
            "args": self.args,
            "needs": self.needs,
            "http_port": self.http_port,
            "env": self.env,
            "dir": self.dir,
            "state": {
                "name": self.name,
                "status": self.status,
                "pid": self.process.pid if self.process and self.status == "running" else None,
                "started_at": self.started_at,
                "error": None,
                "restart_count": self.restart_count,
                "next_restart_at": _iso(self.next_restart_at),
            },
        }


@dataclass
class FakeSprite:
    name: str
    directory: Path
    url: str
    url_settings: dict[str, Any]
    labels: list[str]
    id: str = field(default_factory=lambda: f"sprite-{uuid.uuid4()}")
    status: str = "cold"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    last_running_at: str | None = None
    services: dict[str, FakeService] = field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    next_checkpoint: int = 1
    network_policy: dict[str, Any] = field(
        default_factory=lambda: {"rules": [{"include": "defaults"}]}
    )
    http_host_port: int = field(default_factory=free_port)

    @property
    def root(self) -> Path:
        return self.directory / "root"

    def as_json(self, organization: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "organization": organization,
            "status": self.status,
            "url": self.url,
            "url_settings": self.url_settings,
            "labels": self.labels,
            "version": "v0.0.1-rc48",
            "environment_version": "v0.0.1-rc48",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_running_at": self.last_running_at,
            "last_warming_at": None,
        }

    def host_path(self, path: str, working_dir: str | None = None) -> Path:
        """The host path of a path inside the sprite (never outside its root)."""
        joined = posixpath.join(working_dir or "/", path) if path else (working_dir or "/")
        normal = posixpath.normpath(posixpath.join("/", joined))
        return self.root / normal.lstrip("/")

    def sprite_path(self, host: Path) -> str:
        return "/" + str(host.relative_to(self.root)) if host != self.root else "/"

    def default_environment(self, extra_path: Sequence[str]) -> dict[str, str]:
        home = self.host_path(SPRITE_HOME)
        system_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        return {
            "PATH": os.pathsep.join([*extra_path, system_path]),
            "HOME": str(home),
            "USER": "sprite",
            "LANG": "C.UTF-8",
            "SPRITE_NAME": self.name,
        }


class FakeSpritesState:
    def __init__(
        self,
        base_dir: Path,
        token: str,
        *,
        organization: str = "fake-org",
        extra_path: Sequence[str] = (),
        restart_base: float = 0.5,
        restart_cap: float = 8.0,
    ) -> None:
        self.base_dir = base_dir
        self.token = token
        self.organization = organization
        self.extra_path = list(extra_path)
        self.sprites: dict[str, FakeSprite] = {}
        self.faults = Faults()
        self.public_url = "http://127.0.0.1"
        # Crash restarts wait restart_base * 2**n seconds (n: restarts so far), at most
        # restart_cap: short here so tests can watch a few.
        self.restart_base = restart_base
        self.restart_cap = restart_cap
        # The API's handlers (on the server's loop) and the supervisor (a thread) both
        # start and stop processes.
        self.lock = threading.RLock()
        self._closed = threading.Event()
        self._supervisor = threading.Thread(
            target=self._supervise, name="fake-sprites-supervisor", daemon=True
        )
        self._supervisor.start()

    # -- sprites ---------------------------------------------------------------------

    def create(self, name: str, url_settings: Mapping[str, Any], labels: list[str]) -> FakeSprite:
        directory = self.base_dir / "sprites" / name
        sprite = FakeSprite(
            name=name,
            directory=directory,
            url=f"{self.public_url}/_sprite/{name}",
            url_settings=dict(url_settings) or {"auth": "sprite"},
            labels=labels,
        )
        sprite.host_path(SPRITE_HOME).mkdir(parents=True, exist_ok=True)
        sprite.host_path("/tmp").mkdir(parents=True, exist_ok=True)
        self.sprites[name] = sprite
        return sprite

    def touch(self, sprite: FakeSprite) -> None:
        """Any activity wakes a sprite; services that ran before a cold stop restart."""
        if sprite.status != "running":
            sprite.status = "running"
            sprite.last_running_at = now_iso()
            for service in sprite.services.values():
                if service.was_running and service.status != "running":
                    self.start_service(sprite, service)

    def make_cold(self, sprite: FakeSprite) -> None:
        """What happens when a sprite falls cold: processes lost, files kept; the services
        that ran (or were waiting to be restarted) start again when it wakes."""
        with self.lock:
            for service in sprite.services.values():
                service.was_running = service.process is not None
                self.stop_process(service)
            sprite.status = "cold"

    def read_log(self, service: FakeService, lines: int) -> list[str]:
        if service.log_path is None or not service.log_path.is_file():
            return []
        text = service.log_path.read_bytes()[-1_000_000:].decode("utf-8", errors="replace")
        return text.splitlines()[-lines:]

    def delete(self, sprite: FakeSprite) -> None:
        for service in sprite.services.values():
            self.stop_process(service)
        shutil.rmtree(sprite.directory, ignore_errors=True)
        del self.sprites[sprite.name]

    def close(self) -> None:
        self._closed.set()
        self._supervisor.join(timeout=5)
        for sprite in list(self.sprites.values()):
            for service in sprite.services.values():
                self.stop_process(service)

    def _supervise(self) -> None:
        """Like the Sprite's supervisor: a service that exits by itself (not stopped through
        the API, not lost to a cold stop) is started again after a growing backoff."""
        while not self._closed.wait(0.1):
            try:
                with self.lock:
                    for sprite in list(self.sprites.values()):
                        if sprite.status != "running":
                            continue
                        for service in list(sprite.services.values()):
                            self._supervise_one(sprite, service)
            except Exception:  # a sprite deleted meanwhile, say: the next pass sees it
                logger.exception("the fake's service supervisor")

    def _supervise_one(self, sprite: FakeSprite, service: FakeService) -> None:
        if service.process is None or service.process.poll() is None:
            return
        now = time.time()
        if service.next_restart_at is None:
            delay = min(self.restart_base * 2**service.restart_count, self.restart_cap)
            service.next_restart_at = now + delay
        elif now >= service.next_restart_at:
            service.restart_count += 1
            self.start_service(sprite, service)

    # -- services --------------------------------------------------------------------

    def start_service(self, sprite: FakeSprite, service: FakeService) -> None:
        with self.lock:
            self._start_service(sprite, service)

    def _start_service(self, sprite: FakeSprite, service: FakeService) -> None:
        if service.process is not None and service.process.poll() is None:
            return
        environment = sprite.default_environment(self.extra_path)
        environment.update(service.env)
        if service.http_port is not None:
            environment["PORT"] = str(sprite.http_host_port)
            environment["HOST"] = "127.0.0.1"
        logs = sprite.directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        cwd = sprite.host_path(service.dir or SPRITE_HOME)
        service.log_path = logs / f"{service.name}.log"
        with open(service.log_path, "ab") as log:
            service.process = subprocess.Popen(
                [service.cmd, *service.args],
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service.started_at = now_iso()
        service.was_running = True
        service.next_restart_at = None

    def stop_process(self, service: FakeService) -> None:
        with self.lock:
            self._stop_process(service)

    def _stop_process(self, service: FakeService) -> None:
        service.next_restart_at = None
        process = service.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        service.process = None

    # -- checkpoints -----------------------------------------------------------------

    async def create_checkpoint(self, sprite: FakeSprite, comment: str) -> str:
        checkpoint_id = f"v{sprite.next_checkpoint}"
        sprite.next_checkpoint += 1
        target = sprite.directory / "checkpoints" / checkpoint_id
        target.parent.mkdir(parents=True, exist_ok=True)
        await _copy(sprite.host_path(SPRITE_HOME), target)
        sprite.checkpoints.append(
            {"id": checkpoint_id, "create_time": now_iso(), "comment": comment, "is_auto": False}
        )
        return checkpoint_id

    async def restore_checkpoint(self, sprite: FakeSprite, checkpoint_id: str) -> None:
        source = sprite.directory / "checkpoints" / checkpoint_id
        home = sprite.host_path(SPRITE_HOME)
        # Like a VM restore: running processes do not survive it.
        running = [s for s in sprite.services.values() if s.process is not None]
        for service in running:
            self.stop_process(service)
        shutil.rmtree(home)
        await _copy(source, home)
        for service in running:
            self.start_service(sprite, service)


async def _copy(source: Path, destination: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        "cp", "--reflink=auto", "-a", str(source), str(destination)
    )
    await process.wait()
