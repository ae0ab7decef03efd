"""The local backend: each Sprite is a home directory and a bridge process on this machine.

Layout under ``<data_dir>/sprites/<name>/``::

    home/          the Sprite's files (the bridge's --home, the cwd of every command)
    run/           desired state, pid, port, bridge.log, a lock (never inside the home)
    checkpoints/   copies of home/ and their index

Each Sprite runs in the sandbox of ``sandbox.py`` as its own host uid (``run/uid``), which
owns its home. The control plane touches a home only through ``beneath.Home`` (no path can
be steered outside it) and copies checkpoints as the Sprite's uid; commands run through
the bridge, inside the sandbox.

Inside its sandbox the bridge runs under its keeper (``bridge_agent/keeper.py``), which
restarts a bridge that dies the moment it does, on the same listening socket; ``supervise``
(beat) restarts a Sprite whose whole process tree, keeper included, is gone.

Secrets are never written to disk here. The bridge token and environment are handed to
the bridge process when it is spawned, taken from the ``bootstrap``/``set_environment``
arguments or, for every later start (wake, supervision, restore, another process), from
the ``environment_source`` callable the caller gives: the control plane looks them up in
its database each time. A changed environment goes to the running bridge over its API
(``set_environment``), which passes it on to its keeper: neither restarts for it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sprites.backends import egress, processes, sandbox, sprite_uids
from sprites.backends.base import (
    BridgeEndpoint,
    BridgeEnvironment,
    Checkpoint,
    EnvironmentSource,
    EnvironmentUpdate,
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
from sprites.backends.beneath import Home
from sprites.backends.environment_update import bridge_variables, hand_over
from sprites.backends.home_paths import check_path_shape
from sprites.backends.local_checkpoints import CheckpointStore, copy_tree
from sprites.backends.local_file_streams import LocalFileStreamMethods
from sprites.backends.restore_keeping import Listed, RestoreMarker, put_back, snapshot
from sprites.backends.sandbox import Isolation, SandboxSpec
from sprites.backends.sprite_uids import UidRegistry

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class LocalBackend(LocalFileStreamMethods):
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
        isolation: Isolation = "strict",
        loopback_ports: Sequence[int] = (),
        start_timeout: float = 20.0,
        bridge_arguments: Sequence[str] = (),
        uid_registry: Path = sprite_uids.REGISTRY,
    ) -> None:
        """``base_environment`` holds non-secret variables every Sprite gets (model
        server URLs, ``STARTER_PI_BIN`` overrides); ``isolation`` is ``strict`` or the
        development mode ``single-user`` (see ``sandbox.py``); ``loopback_ports`` are
        ports of this machine's loopback every Sprite may reach (a local model server);
        ``bridge_arguments`` are added to the bridge's command line (``--no-prewarm``)."""
        self.sprites_dir = Path(data_dir).resolve() / "sprites"
        self._uids = UidRegistry(sandbox.FIRST_SPRITE_UID, sandbox.LAST_SPRITE_UID, uid_registry)
        self._environment_source = environment_source
        self._python = python
        self._bridge_path = Path(bridge_path)
        default_pi = PROJECT_ROOT / "node_modules" / ".bin" / "pi"
        self._pi_bin = pi_bin or (str(default_pi) if default_pi.exists() else None)
        self._base_environment = dict(base_environment or {})
        if isolation not in sandbox.ISOLATION_MODES:
            raise SpriteError(
                f"Unknown Sprite isolation {isolation!r}: choose strict or single-user."
            )
        self.isolation: Isolation = isolation
        self._loopback_ports = [int(port) for port in loopback_ports]
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
            if not environment.token and name in self._environments:
                # A Sprite the source does not know (a selftest's throwaway one): keep what
                # it was bootstrapped with in this process.
                return self._environments[name]
            self._environments[name] = environment
            return environment
        if name in self._environments:
            return self._environments[name]
        raise SpriteError(
            f"The bridge environment of Sprite {name!r} is not known in this process:"
            " bootstrap it again, or give the backend an environment_source."
        )

    async def _source_loopback_ports(self, name: str) -> tuple[int, ...]:
        """The loopback ports the environment source gives ``name`` (bootstrap is handed
        the variables, but the ports are a property of the Sprite's role)."""
        if self._environment_source is None:
            return ()
        with contextlib.suppress(SpriteError):
            return (await resolve_environment(self._environment_source, name)).loopback_ports
        return ()

    def _process_environment(self, name: str, variables: Mapping[str, str]) -> dict[str, str]:
        """The environment of everything that runs in the Sprite. Nothing is inherited
        from the control plane, whose environment holds its own secrets."""
        home = self.home(name)
        environment = {
            "PATH": sandbox.SAFE_PATH,
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if self._pi_bin:
            environment["STARTER_PI_BIN"] = self._pi_bin
        environment.update(self._base_environment)
        environment.update(bridge_variables(variables))
        return environment

    # -- lifecycle ----------------------------------------------------------------

    async def create(self, name: str) -> SpriteStatus:
        self._require_isolation()
        sprite_dir = self.sprite_dir(name)
        self.sprites_dir.mkdir(parents=True, exist_ok=True)
        # Searchable, not listable: a Sprite's uid must reach its own home, nothing more.
        self.sprites_dir.chmod(0o711)
        self._make_reachable(self.sprites_dir.parent)
        sprite_dir.mkdir(exist_ok=True)
        sprite_dir.chmod(0o711)
        (sprite_dir / "run").mkdir(exist_ok=True)
        (sprite_dir / "run").chmod(0o700)
        (sprite_dir / "home").mkdir(exist_ok=True)
        self._own_home(name)
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
        self._environments[name] = BridgeEnvironment(
            token, dict(environment), await self._source_loopback_ports(name)
        )
        await report_progress(progress, steps, 1)
        if not (self._bridge_path / "bridge_agent" / "__main__.py").is_file():
            raise SpriteError(
                f"The bridge is not installed: no bridge_agent in {self._bridge_path}."
            )
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
            uid = self._read(name, "uid")
            if uid is not None and self.isolation == "strict":
                with contextlib.suppress(egress.EgressError):
                    egress.allow_loopback_ports(int(uid), [])
            # rmtree does not follow the symlinks a Sprite may have left in its home.
            await asyncio.to_thread(shutil.rmtree, sprite_dir)
            if uid is not None:
                self._uids.release(int(uid), self._uid_owner(name))
        self._environments.pop(name, None)

    async def supervise(self) -> list[str]:
        """Restart every bridge that should run but died; the names restarted. Also puts
        the network rules back should they have gone (a flushed ruleset would otherwise
        open the platform to every running Sprite)."""
        if self.isolation == "strict":
            try:
                await asyncio.to_thread(
                    egress.install, sandbox.FIRST_SPRITE_UID, sandbox.LAST_SPRITE_UID
                )
            except egress.EgressError as error:
                logger.error("The Sprites' network rules could not be restored: %s", error)
        restarted = []
        for info in await self.list_sprites():
            if info.state == "failed":
                # The keeper restarts a bridge that dies; this is the keeper (the Sprite's
                # whole process tree) gone.
                logger.error(
                    "Sprite %s: its process tree (the bridge's keeper) died; restarting it",
                    info.name,
                )
                await self.wake(info.name)
                restarted.append(info.name)
        return restarted

    async def set_environment(
        self, name: str, token: str, environment: Mapping[str, str]
    ) -> EnvironmentUpdate:
        """Keep the values for the bridge's next start (when there is no environment source
        to ask then) and hand them to the running bridge, which never restarts for them."""
        self._require(name)
        self._environments[name] = BridgeEnvironment(
            token, dict(environment), await self._source_loopback_ports(name)
        )
        async with self._locked(name):
            pid = self._pid(name)
            if self._read(name, "state") != "running" or pid is None or not processes.is_alive(pid):
                # Asleep, or its keeper died (the supervisor's restart asks the source).
                return EnvironmentUpdate("next_start")
            endpoint = await self.bridge_endpoint(name, token)
            return await hand_over(endpoint, environment, name)

    # -- the sandbox --------------------------------------------------------------

    def _require_isolation(self) -> None:
        problem = sandbox.isolation_problem(self.isolation)
        if problem is not None:
            raise SpriteError(
                f"Local Sprites cannot be isolated from each other here: {problem}. {sandbox.FIX}"
            )

    def uid(self, name: str) -> int | None:
        """The host uid of Sprite ``name`` (``None`` in single-user mode)."""
        if self.isolation != "strict":
            return None
        value = self._read(name, "uid")
        if value is not None:
            # A Sprite made before uids were handed out machine-wide: record its uid.
            self._uids.adopt(int(value), self._uid_owner(name))
            return int(value)
        return self._allocate_uid(name)

    def _allocate_uid(self, name: str) -> int:
        """A uid no other Sprite on this machine holds (``sprite_uids.py``), recorded in the
        Sprite's run directory; under the data dir's lock so one Sprite never gets two."""
        descriptor = os.open(self.sprites_dir / ".uid.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            value = self._read(name, "uid")
            if value is not None:
                return int(value)
            uid = self._uids.claim(self._uid_owner(name))
            self._write(name, "uid", str(uid))
            return uid
        finally:
            os.close(descriptor)

    def _uid_owner(self, name: str) -> str:
        return str(self.sprite_dir(name))

    def _make_reachable(self, data_dir: Path) -> None:
        """Sprite uids must pass through the data dir to their homes (search, not read:
        its keys stay 0600). A directory above it that they cannot pass is an error."""
        if self.isolation != "strict":
            return
        mode = data_dir.stat().st_mode
        if not mode & stat.S_IXOTH:
            data_dir.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        for parent in data_dir.resolve().parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                raise SpriteError(
                    f"Sprites cannot reach their homes: other users may not enter {parent}."
                    " Put STARTER_DATA_DIR somewhere every user may pass through."
                )

    def _own_home(self, name: str) -> None:
        """The home belongs to the Sprite's uid (homes made before isolation included)."""
        uid = self.uid(name)
        home = self.home(name)
        if uid is None or home.stat().st_uid == uid:
            return
        os.chown(home, uid, uid)
        home.chmod(0o700)
        # fwalk works from directory descriptors and never follows a link: a directory
        # swapped for a symlink meanwhile cannot lead the chown outside the home.
        for _, directories, files, directory in os.fwalk(home, follow_symlinks=False):
            for entry in (*directories, *files):
                os.chown(entry, uid, uid, dir_fd=directory, follow_symlinks=False)

    @staticmethod
    def _allow_loopback_ports(uid: int, ports: Sequence[int]) -> None:
        """The Sprite's holes to this machine; the table is put back if it went away
        (an operator flushed the ruleset, say) rather than starting a Sprite without it."""
        try:
            egress.allow_loopback_ports(uid, ports)
        except egress.EgressError:
            try:
                egress.install(sandbox.FIRST_SPRITE_UID, sandbox.LAST_SPRITE_UID)
                egress.allow_loopback_ports(uid, ports)
            except egress.EgressError as error:
                raise SpriteError(
                    f"The Sprite's network rules could not be set ({error}). {sandbox.FIX}"
                ) from None

    def _files(self, name: str) -> Home:
        self._require(name)
        uid = self.uid(name)
        return Home(self.home(name), uid, uid)

    def _sandbox_spec(self, name: str, *, loopback_ports: Sequence[int] = ()) -> SandboxSpec:
        readable = [self._bridge_path / "bridge_agent", sandbox.python_packages()]
        if self._pi_bin:
            readable.append(PROJECT_ROOT / "node_modules")
        return SandboxSpec(
            home=self.home(name),
            uid=self.uid(name) or 0,
            # The data dir holds every Sprite and the control plane's own keys; the
            # checkout holds the settings. Only the runtime above is mounted back.
            hidden=[self.sprites_dir.parent, PROJECT_ROOT, self._bridge_path],
            readable=readable,
            loopback_ports=sorted({*self._loopback_ports, *loopback_ports}),
        )

    async def _start_bridge(self, name: str, environment: BridgeEnvironment) -> None:
        self._require_isolation()
        self._own_home(name)
        home = self.home(name)
        previous_port = self._read(name, "bridge.port")
        # The bridge serves on a socket of this machine's loopback that the control plane
        # opens and hands in (it can only accept on it): the Sprite's own network stays
        # cut off from the machine, and requests skip pasta's user-mode TCP, which would
        # hold small writes back (Nagle against delayed ACKs: ~40 ms a request).
        listener = processes.loopback_listener(int(previous_port) if previous_port else None)
        port = int(listener.getsockname()[1])
        spec = self._sandbox_spec(name, loopback_ports=environment.loopback_ports)
        # The checkout (and with it a virtualenv's bin/) is hidden in the sandbox: the
        # interpreter runs from where it really lives, its packages come on PYTHONPATH.
        if self.isolation == "strict":
            python = sandbox.sandbox_python()
        else:
            python = os.path.realpath(self._python)  # noqa: ASYNC240 (no I/O worth a thread)
        # The keeper is the bridge's parent in the Sprite: it restarts a bridge that dies the
        # moment it does, on the same socket (see bridge_agent/keeper.py).
        argv = [
            python, "-m", "bridge_agent.keeper",
            "--listen-fd", str(listener.fileno()), "--home", str(home),
            *self._bridge_arguments,
        ]  # fmt: skip
        process_environment = self._process_environment(name, environment.variables)
        process_environment["PYTHONPATH"] = os.pathsep.join(
            [str(self._bridge_path), str(sandbox.python_packages())]
        )
        process_environment["STARTER_BRIDGE_TOKEN"] = environment.token
        pass_fds: list[int] = [listener.fileno()]
        if self.isolation == "strict":
            self._allow_loopback_ports(spec.uid, spec.loopback_ports)
            filter_fd = sandbox.seccomp_fd()
            pass_fds.append(filter_fd)
            command = [
                str(filter_fd) if part == "{seccomp}" else part
                for part in sandbox.command(argv, spec)
            ]
        else:
            command = sandbox.single_user_command(argv, spec)
        try:
            pid = processes.spawn_detached(
                command,
                cwd=home,
                env=process_environment,
                log_path=self.log_path(name),
                pass_fds=pass_fds,
            )
        finally:
            for descriptor in pass_fds[1:]:
                os.close(descriptor)
            listener.close()
        self._write(name, "bridge.pid", str(pid))
        self._write(name, "bridge.port", str(port))
        self._write(name, "state", "running")
        problem = await processes.wait_until_healthy(
            f"http://127.0.0.1:{port}/starter/health", pid=pid, timeout=self._start_timeout
        )
        if problem is not None:
            await processes.stop_tree(pid)
            # The log is written by the Sprite: operators read it, people are not shown it.
            logger.warning(
                "Sprite %s: %s. The end of %s:\n%s",
                name,
                problem,
                self.log_path(name),
                self._log_tail(name),
            )
            raise SpriteError(
                f"Sprite {name!r}: {problem}. Operators find the bridge's log on the server.",
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
        """Run ``command`` through the bridge, inside the Sprite's sandbox and network,
        with the bridge's environment (the project's secrets) plus ``env``."""
        self._require(name)
        if self._read(name, "state") != "running":
            raise SpriteError(f"Sprite {name!r} is not running: wake it first.", retryable=True)
        environment = await self._bridge_environment(name)
        endpoint = await self.bridge_endpoint(name, environment.token)
        body: dict[str, object] = {
            "command": command if isinstance(command, str) else list(command),
            "timeout": timeout,
            "env": dict(env or {}),
        }
        try:
            async with httpx.AsyncClient(timeout=timeout + 30.0) as client:
                response = await client.post(
                    f"{endpoint.base_url}/starter/exec", json=body, headers=endpoint.headers
                )
        except httpx.HTTPError as error:
            raise SpriteError(
                f"Sprite {name!r} did not answer the command ({type(error).__name__}).",
                retryable=True,
            ) from None
        if response.status_code != 200:
            raise SpriteError(
                f"Sprite {name!r} refused the command (HTTP {response.status_code}).",
                retryable=response.status_code >= 500,
            )
        try:
            answer = response.json()
            return ExecResult(
                int(answer["exit_code"]),
                base64.b64decode(answer["stdout"]),
                base64.b64decode(answer["stderr"]),
                bool(answer["timed_out"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            # The bridge runs inside the tenant's machine: its answer is untrusted input.
            raise SpriteError(f"Sprite {name!r} gave an unreadable answer ({error}).") from None

    def _relative(self, name: str, path: str) -> str:
        """``path`` relative to the home (absolute paths under the home are accepted)."""
        pure = check_path_shape(path)
        if not pure.is_absolute():
            return str(pure)
        for base in {str(self.home(name)), os.path.realpath(self.home(name))}:
            if str(pure) == base:
                return "."
            if str(pure).startswith(base.rstrip("/") + "/"):
                return str(pure)[len(base.rstrip("/")) + 1 :]
        raise SpriteError(
            f"Path {path!r} is outside the Sprite's home; use a path relative to the home.",
            path_problem="refused",
        )

    async def read_file(self, name: str, path: str) -> bytes:
        files = self._files(name)
        return await asyncio.to_thread(files.read, self._relative(name, path))

    async def write_file(self, name: str, path: str, data: bytes) -> None:
        relative = self._relative(name, path)
        if relative in (".", ""):
            raise SpriteError("Give a file path, not the home itself.", path_problem="refused")
        files = self._files(name)
        await asyncio.to_thread(files.write, relative, data)

    async def list_files(self, name: str, path: str = ".") -> list[FileEntry]:
        files = self._files(name)
        relative = self._relative(name, path)
        entries = await asyncio.to_thread(files.list, relative)
        prefix = "" if relative in (".", "") else relative.rstrip("/") + "/"
        return [
            FileEntry(
                name=entry.name,
                path=prefix + entry.name,
                is_dir=entry.is_dir,
                size=entry.size,
                modified_at=entry.modified_at,
                is_link=entry.is_symlink,
                link_target=entry.link_target,
            )
            for entry in entries
        ]

    # -- checkpoints ----------------------------------------------------------------

    def _checkpoints(self, name: str) -> CheckpointStore:
        return CheckpointStore(self.sprite_dir(name) / "checkpoints")

    async def create_checkpoint(self, name: str, comment: str = "") -> Checkpoint:
        self._require(name)
        async with self._locked(name):
            return await self._checkpoints(name).create(
                self.home(name), comment, as_uid=self.uid(name)
            )

    async def list_checkpoints(self, name: str) -> list[Checkpoint]:
        self._require(name)
        return self._checkpoints(name).list()

    async def restore_checkpoint(
        self, name: str, checkpoint_id: str, *, event_id_floor: int | None = None
    ) -> SpriteStatus:
        """Stop the bridge, put the checkpoint's copy in place of the home, start again
        (if it was running). The checkpoint itself stays, so it can be restored twice.

        pi's session files and the bridge's event log as they were just before come back
        on top of the copy (``restore_keeping``), with the restore marked in them."""
        self._require(name)
        store = self._checkpoints(name)
        copy = store.copy_of(checkpoint_id)
        comment = next((c.comment for c in store.list() if c.id == checkpoint_id), "")
        home = self.home(name)
        files = _HomeFiles(self._files(name))
        async with self._locked(name):
            was_running = self._read(name, "state") == "running"
            await self._stop_bridge(name)
            with tempfile.TemporaryDirectory(prefix="starter-restore-") as spool:
                kept = await snapshot(files, Path(spool))
                incoming = home.with_name("home.restoring")
                outgoing = home.with_name("home.replaced")
                for leftover in (incoming, outgoing):
                    await asyncio.to_thread(shutil.rmtree, leftover, True)
                await copy_tree(copy, incoming, as_uid=self.uid(name))
                os.rename(home, outgoing)
                os.rename(incoming, home)
                await asyncio.to_thread(shutil.rmtree, outgoing, True)
                marker = RestoreMarker(checkpoint_id, comment, datetime.now(UTC))
                await put_back(files, kept, marker, event_id_floor)
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


class _HomeFiles:
    """``restore_keeping``'s access to a local home: every path beneath it, as its uid."""

    def __init__(self, home: Home) -> None:
        self._home = home

    async def list(self, path: str) -> list[Listed]:
        try:
            entries = await asyncio.to_thread(self._home.list, path)
        except SpriteError:
            return []
        return [
            Listed(entry.name, entry.size, not entry.is_dir and not entry.is_symlink)
            for entry in entries
        ]

    async def read(self, path: str, limit: int) -> bytes | None:
        try:
            return await asyncio.to_thread(self._home.read, path, limit)
        except SpriteError:
            return None

    async def write(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(self._home.write, path, data)
