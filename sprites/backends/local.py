"""The local backend: each Sprite is a home directory and a bridge process on this machine.

Layout under ``<data_dir>/sprites/<name>/``::

    home/          the Sprite's files (the bridge's --home, the cwd of every command)
    run/           desired state, pid, port, bridge.log, a lock (never inside the home)
    checkpoints/   copies of home/ and their index

Secrets are never written to disk here. The bridge token and environment are handed to
the bridge process when it is spawned, taken from the ``bootstrap``/``set_environment``
arguments or, for every later start (wake, supervision, restore, another process), from
the ``environment_source`` callable the caller gives: the control plane looks them up in
its database each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sprites.backends import processes
from sprites.backends.base import (
    BridgeEndpoint,
    BridgeEnvironment,
    Checkpoint,
    EnvironmentSource,
    ExecResult,
    FileEntry,
    ProgressCallback,
    SpriteError,
    SpriteInfo,
    SpriteState,
    SpriteStatus,
    report_progress,
    resolve_environment,
    validate_sprite_name,
)
from sprites.backends.home_paths import confined_local_path
from sprites.backends.local_checkpoints import CheckpointStore, copy_tree
from sprites.backends.sandbox import bubblewrap_path, sandboxed

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class LocalBackend:
    kind = "local"

    def __init__(
        self,
        data_dir: Path | str,
        *,
        environment_source: EnvironmentSource | None = None,
        python: str = sys.executable,
        bridge_path: Path | str = PROJECT_ROOT,
        pi_bin: str | None = None,
        base_environment: Mapping[str, str] | None = None,
        sandbox: bool = True,
        start_timeout: float = 20.0,
        bridge_arguments: Sequence[str] = (),
    ) -> None:
        """``base_environment`` holds non-secret variables every Sprite gets (model
        server URLs, ``STARTER_PI_BIN`` overrides); ``sandbox=False`` skips bubblewrap;
        ``bridge_arguments`` are added to the bridge's command line (``--no-prewarm``)."""
        self.sprites_dir = Path(data_dir).resolve() / "sprites"
        self._environment_source = environment_source
        self._python = python
        self._bridge_path = Path(bridge_path)
        default_pi = PROJECT_ROOT / "node_modules" / ".bin" / "pi"
        self._pi_bin = pi_bin or (str(default_pi) if default_pi.exists() else None)
        self._base_environment = dict(base_environment or {})
        self._sandbox = sandbox
        self._start_timeout = start_timeout
        self._bridge_arguments = list(bridge_arguments)
        # Environments given to this instance; only a fallback when there is no source.
        self._environments: dict[str, BridgeEnvironment] = {}

    # -- layout -------------------------------------------------------------------

    def sprite_dir(self, name: str) -> Path:
        return self.sprites_dir / validate_sprite_name(name)

    def home(self, name: str) -> Path:
        return self.sprite_dir(name) / "home"

    def _run(self, name: str) -> Path:
        return self.sprite_dir(name) / "run"

    def log_path(self, name: str) -> Path:
        return self._run(name) / "bridge.log"

    def _read(self, name: str, file: str) -> str | None:
        try:
            return (self._run(name) / file).read_text().strip()
        except FileNotFoundError:
            return None

    def _write(self, name: str, file: str, value: str) -> None:
        target = self._run(name) / file
        temporary = target.with_suffix(".tmp")
        temporary.write_text(value)
        os.replace(temporary, target)

    def _pid(self, name: str) -> int | None:
        value = self._read(name, "bridge.pid")
        return int(value) if value else None

    def _require(self, name: str) -> None:
        if not self.home(name).is_dir():
            raise SpriteError(f"No Sprite named {name!r} on this machine.")

    @contextlib.asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[None]:
        """One lifecycle change at a time per Sprite, across processes."""
        run = self._run(name)
        run.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(run / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    # -- environment ----------------------------------------------------------------

    async def _bridge_environment(self, name: str) -> BridgeEnvironment:
        if self._environment_source is not None:
            environment = await resolve_environment(self._environment_source, name)
            self._environments[name] = environment
            return environment
        if name in self._environments:
            return self._environments[name]
        raise SpriteError(
            f"The bridge environment of Sprite {name!r} is not known in this process:"
            " bootstrap it again, or give the backend an environment_source."
        )

    def _process_environment(self, name: str, variables: Mapping[str, str]) -> dict[str, str]:
        """The environment of everything that runs in the Sprite. Nothing is inherited
        from the control plane, whose environment holds its own secrets."""
        home = self.home(name)
        environment = {
            "PATH": os.environ.get("PATH", _SAFE_PATH),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if self._pi_bin:
            environment["STARTER_PI_BIN"] = self._pi_bin
        environment.update(self._base_environment)
        environment["STARTER_SECRET_NAMES"] = ",".join(sorted(variables))
        environment.update(variables)
        return environment

    # -- lifecycle ----------------------------------------------------------------

    async def create(self, name: str) -> SpriteStatus:
        sprite_dir = self.sprite_dir(name)
        (sprite_dir / "home").mkdir(parents=True, exist_ok=True)
        (sprite_dir / "run").mkdir(exist_ok=True)
        (sprite_dir / "run").chmod(0o700)
        if self._read(name, "state") is None:
            self._write(name, "created", datetime.now(UTC).isoformat())
            self._write(name, "state", "created")
        return await self.status(name)

    async def bootstrap(
        self,
        name: str,
        token: str,
        environment: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> SpriteStatus:
        steps = ["Preparing the home", "Checking the bridge", "Starting the bridge"]
        await report_progress(progress, steps, 0)
        await self.create(name)
        self._environments[name] = BridgeEnvironment(token, dict(environment))
        await report_progress(progress, steps, 1)
        if not (self._bridge_path / "bridge_agent" / "__main__.py").is_file():
            raise SpriteError(
                f"The bridge is not installed: no bridge_agent in {self._bridge_path}."
            )
        if bubblewrap_path() is None and self._sandbox:
            logger.info("Sprite %s runs without a sandbox", name)
        await report_progress(progress, steps, 2)
        async with self._locked(name):
            await self._stop_bridge(name)
            await self._start_bridge(name, self._environments[name])
        return await self.status(name)

    async def status(self, name: str) -> SpriteStatus:
        if not self.home(name).is_dir():
            return SpriteStatus(name, "missing")
        desired = self._read(name, "state") or "created"
        if desired == "created":
            return SpriteStatus(name, "created", "not bootstrapped yet")
        if desired == "stopped":
            return SpriteStatus(name, "stopped", "asleep; files kept")
        pid = self._pid(name)
        if pid is None or not processes.is_alive(pid):
            return SpriteStatus(name, "failed", "the bridge process is not running")
        port = self._read(name, "bridge.port")
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(f"http://127.0.0.1:{port}/starter/health")
        except httpx.HTTPError as error:
            return SpriteStatus(name, "starting", f"health check failed: {type(error).__name__}")
        if response.status_code != 200:
            return SpriteStatus(name, "starting", f"health check answered {response.status_code}")
        return SpriteStatus(name, "running", f"bridge pid {pid} on port {port}")

    async def wake(self, name: str) -> SpriteStatus:
        """Start the bridge unless it already runs; also the supervisor's restart."""
        self._require(name)
        async with self._locked(name):
            pid = self._pid(name)
            if pid is not None and processes.is_alive(pid):
                if (await self.status(name)).is_running:
                    return SpriteStatus(name, "running", f"bridge pid {pid}")
                await self._stop_bridge(name)
            await self._start_bridge(name, await self._bridge_environment(name))
        return await self.status(name)

    ensure_running = wake

    async def sleep(self, name: str) -> SpriteStatus:
        self._require(name)
        async with self._locked(name):
            await self._stop_bridge(name)
            self._write(name, "state", "stopped")
        return await self.status(name)

    async def destroy(self, name: str) -> None:
        sprite_dir = self.sprite_dir(name)
        if not sprite_dir.exists():
            return
        async with self._locked(name):
            await self._stop_bridge(name)
            await asyncio.to_thread(shutil.rmtree, sprite_dir)
        self._environments.pop(name, None)

    async def supervise(self) -> list[str]:
        """Restart every bridge that should run but died; the names restarted."""
        restarted = []
        for info in await self.list_sprites():
            if info.state == "failed":
                logger.warning("Sprite %s: the bridge died; restarting it", info.name)
                await self.wake(info.name)
                restarted.append(info.name)
        return restarted

    async def set_environment(
        self, name: str, token: str, environment: Mapping[str, str]
    ) -> SpriteStatus:
        self._require(name)
        self._environments[name] = BridgeEnvironment(token, dict(environment))
        async with self._locked(name):
            if self._read(name, "state") == "running":
                await self._stop_bridge(name)
                await self._start_bridge(name, self._environments[name])
        return await self.status(name)

    def _sandboxed(self, argv: Sequence[str], home: Path) -> list[str]:
        return sandboxed(
            argv,
            home=home,
            # The whole data dir: besides every Sprite it holds the control plane's own
            # keys (SECRET_KEY, the encryption keys of the secrets in the database).
            hidden=[self.sprites_dir.parent],
            readable=[self._bridge_path],
            use_sandbox=self._sandbox,
        )

    async def _start_bridge(self, name: str, environment: BridgeEnvironment) -> None:
        home = self.home(name)
        previous_port = self._read(name, "bridge.port")
        port = processes.free_loopback_port(int(previous_port) if previous_port else None)
        argv = [
            self._python, "-m", "bridge_agent",
            "--host", "127.0.0.1", "--port", str(port), "--home", str(home),
            *self._bridge_arguments,
        ]  # fmt: skip
        process_environment = self._process_environment(name, environment.variables)
        process_environment["PYTHONPATH"] = str(self._bridge_path)
        process_environment["STARTER_BRIDGE_TOKEN"] = environment.token
        pid = processes.spawn_detached(
            self._sandboxed(argv, home),
            cwd=home,
            env=process_environment,
            log_path=self.log_path(name),
        )
        self._write(name, "bridge.pid", str(pid))
        self._write(name, "bridge.port", str(port))
        self._write(name, "state", "running")
        problem = await processes.wait_until_healthy(
            f"http://127.0.0.1:{port}/starter/health", pid=pid, timeout=self._start_timeout
        )
        if problem is not None:
            await processes.stop_tree(pid)
            raise SpriteError(
                f"Sprite {name!r}: {problem}. The end of {self.log_path(name)}:\n"
                f"{self._log_tail(name)}",
                retryable=True,
            )

    async def _stop_bridge(self, name: str) -> None:
        pid = self._pid(name)
        if pid is not None:
            await processes.stop_tree(pid)
            (self._run(name) / "bridge.pid").unlink(missing_ok=True)

    def _log_tail(self, name: str, lines: int = 20) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- commands and files ------------------------------------------------------------

    async def exec(
        self,
        name: str,
        command: Sequence[str] | str,
        timeout: float = 60.0,  # noqa: ASYNC109 (a property of the command)
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        self._require(name)
        home = self.home(name)
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        variables: Mapping[str, str] = {}
        with contextlib.suppress(SpriteError):
            variables = (await self._bridge_environment(name)).variables
        process_environment = self._process_environment(name, variables)
        process_environment.update(env or {})
        process = await asyncio.create_subprocess_exec(
            *self._sandboxed(argv, home),
            cwd=home,
            env=process_environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdout is not None and process.stderr is not None
        readers = asyncio.gather(process.stdout.read(), process.stderr.read())
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            timed_out = True
            await processes.stop_tree(process.pid, grace=0.5)
        finally:
            if process.returncode is None:
                await processes.stop_tree(process.pid, grace=0.5)
            await process.wait()
        stdout, stderr = await readers
        exit_code = process.returncode if process.returncode is not None else -1
        return ExecResult(exit_code, stdout, stderr, timed_out)

    def _path(self, name: str, path: str) -> Path:
        self._require(name)
        return confined_local_path(self.home(name), path)

    async def read_file(self, name: str, path: str) -> bytes:
        target = self._path(name, path)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise SpriteError(f"No file {path!r} in Sprite {name!r}.") from None
        except IsADirectoryError:
            raise SpriteError(f"{path!r} is a directory, not a file.") from None

    async def write_file(self, name: str, path: str, data: bytes) -> None:
        target = self._path(name, path)
        if target == self.home(name).resolve():
            raise SpriteError("Give a file path, not the home itself.")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_bytes(data)
        except IsADirectoryError:
            raise SpriteError(f"{path!r} is a directory, not a file.") from None

    async def list_files(self, name: str, path: str = ".") -> list[FileEntry]:
        target = self._path(name, path)
        home = self.home(name).resolve()
        if not target.is_dir():
            raise SpriteError(f"No directory {path!r} in Sprite {name!r}.")
        entries = []
        for child in sorted(target.iterdir()):
            info = child.lstat()
            entries.append(
                FileEntry(
                    name=child.name,
                    path=str(child.relative_to(home)),
                    is_dir=child.is_dir() and not child.is_symlink(),
                    size=info.st_size,
                    modified_at=datetime.fromtimestamp(info.st_mtime, UTC),
                )
            )
        return entries

    # -- checkpoints ----------------------------------------------------------------

    def _checkpoints(self, name: str) -> CheckpointStore:
        return CheckpointStore(self.sprite_dir(name) / "checkpoints")

    async def create_checkpoint(self, name: str, comment: str = "") -> Checkpoint:
        self._require(name)
        async with self._locked(name):
            return await self._checkpoints(name).create(self.home(name), comment)

    async def list_checkpoints(self, name: str) -> list[Checkpoint]:
        self._require(name)
        return self._checkpoints(name).list()

    async def restore_checkpoint(self, name: str, checkpoint_id: str) -> SpriteStatus:
        """Stop the bridge, put the checkpoint's copy in place of the home, start again
        (if it was running). The checkpoint itself stays, so it can be restored twice."""
        self._require(name)
        copy = self._checkpoints(name).copy_of(checkpoint_id)
        home = self.home(name)
        async with self._locked(name):
            was_running = self._read(name, "state") == "running"
            await self._stop_bridge(name)
            incoming = home.with_name("home.restoring")
            outgoing = home.with_name("home.replaced")
            for leftover in (incoming, outgoing):
                await asyncio.to_thread(shutil.rmtree, leftover, True)
            await copy_tree(copy, incoming)
            os.rename(home, outgoing)
            os.rename(incoming, home)
            await asyncio.to_thread(shutil.rmtree, outgoing, True)
            if was_running:
                await self._start_bridge(name, await self._bridge_environment(name))
        return await self.status(name)

    # -- reaching the bridge ------------------------------------------------------------

    async def bridge_endpoint(self, name: str, token: str) -> BridgeEndpoint:
        self._require(name)
        port = self._read(name, "bridge.port")
        if self._read(name, "state") != "running" or port is None:
            raise SpriteError(f"Sprite {name!r} is not running: wake it first.", retryable=True)
        return BridgeEndpoint(f"http://127.0.0.1:{port}", {"X-Starter-Token": token})

    async def list_sprites(self) -> list[SpriteInfo]:
        if not self.sprites_dir.is_dir():
            return []
        infos = []
        for sprite_dir in sorted(self.sprites_dir.iterdir()):
            if not (sprite_dir / "home").is_dir():
                continue
            name = sprite_dir.name
            created = self._read(name, "created")
            infos.append(
                SpriteInfo(
                    name=name,
                    state=self._quick_state(name),
                    created_at=datetime.fromisoformat(created) if created else None,
                )
            )
        return infos

    def _quick_state(self, name: str) -> SpriteState:
        """The state without a health request (for listing many Sprites)."""
        desired = self._read(name, "state") or "created"
        if desired in ("created", "stopped"):
            return "created" if desired == "created" else "stopped"
        pid = self._pid(name)
        return "running" if pid is not None and processes.is_alive(pid) else "failed"
