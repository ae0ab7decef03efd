"""The Sprite backend interface: plain values in, plain values out, one error type.

A Sprite is a sandboxed machine with a home directory and the bridge (``bridge_agent``)
running in it. Every backend method is a coroutine; Celery tasks and management commands
call them through :func:`run_sync`. Nothing here knows about Django.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

SpriteState = Literal["missing", "created", "stopped", "starting", "running", "failed"]
"""``missing``: no such Sprite. ``created``: exists, never bootstrapped. ``stopped``:
asleep (files kept, no processes). ``starting``: waking/cold. ``running``: the bridge
answers its health check. ``failed``: it should run but does not (see ``detail``)."""

ProgressCallback = Callable[[str, int, int], object]
"""``progress(step, n, m)``: step ``n`` of ``m`` (1-based) is starting."""


PathProblem = Literal["missing", "refused"]


class SpriteError(Exception):
    """The one error every backend raises.

    ``retryable`` says whether trying the same call again later can help (rate limits,
    a Sprite still waking, a dropped connection) or not (bad token, no such Sprite, a
    path outside the home). ``message`` is meant for people.

    ``path_problem`` says, for a file operation, that the path itself is the problem:
    ``missing`` (nothing there) or ``refused`` (outside the home, a link, not a regular
    file, a directory where a file was meant), so callers never parse the message.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        path_problem: PathProblem | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.path_problem = path_problem


@dataclass(frozen=True)
class BridgeEnvironment:
    """What the bridge is started with. Both parts are secret: never log or store them.

    ``variables`` are project secrets and provider API keys, given to the bridge (and so
    to pi and every command it runs) as environment variables. ``loopback_ports`` are
    ports of the control plane's machine this Sprite may reach besides the world (the
    general agent's API on a development machine); a local Sprite reaches nothing else
    there.
    """

    token: str
    variables: Mapping[str, str] = field(default_factory=dict)
    loopback_ports: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return f"BridgeEnvironment(token=***, variables={sorted(self.variables)})"


EnvironmentSource = Callable[[str], "BridgeEnvironment | Awaitable[BridgeEnvironment]"]
"""Looks up the bridge environment of a Sprite by name, at the moment it is needed."""


EnvironmentApplied = Literal["now", "after_run", "next_start"]


@dataclass(frozen=True)
class EnvironmentUpdate:
    """``now``: every process the bridge starts has the new values, pi included;
    ``after_run``: pi of ``pending_sessions`` restarts with them when its run ends (new
    commands have them already); ``next_start``: no bridge runs, it starts with them."""

    applied: EnvironmentApplied
    pending_sessions: tuple[str, ...] = ()
    names: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SpriteStatus:
    name: str
    state: SpriteState
    detail: str = ""

    @property
    def is_running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class SpriteInfo:
    name: str
    state: SpriteState
    created_at: datetime | None = None


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class FileEntry:
    name: str
    path: str
    is_dir: bool
    size: int
    modified_at: datetime | None = None
    # A symbolic link is listed as itself (lstat), never followed: ``is_dir`` is False and
    # ``link_target`` is what the link says (untrusted text from the Sprite).
    is_link: bool = False
    link_target: str = ""


@dataclass(frozen=True)
class Checkpoint:
    id: str
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class BridgeEndpoint:
    """How the control plane reaches the bridge: a base URL without a trailing slash
    and the headers every request needs (they carry secrets: never log them)."""

    base_url: str
    headers: Mapping[str, str]

    def __repr__(self) -> str:
        return f"BridgeEndpoint(base_url={self.base_url!r}, headers={sorted(self.headers)})"


@runtime_checkable
class SpriteBackend(Protocol):
    """One Sprite provider. Every method is idempotent where the name suggests it
    (``create`` of an existing Sprite, ``sleep`` of a sleeping one, ``destroy`` of a
    missing one all succeed)."""

    kind: str

    async def create(self, name: str) -> SpriteStatus: ...

    async def bootstrap(
        self,
        name: str,
        token: str,
        environment: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> SpriteStatus:
        """Install the bridge and start it with ``token`` and ``environment``; returns
        once its health check answers."""
        ...

    async def status(self, name: str) -> SpriteStatus: ...

    async def wake(self, name: str) -> SpriteStatus:
        """Start the bridge again (files kept) and wait until it is healthy."""
        ...

    async def sleep(self, name: str) -> SpriteStatus: ...

    async def destroy(self, name: str) -> None: ...

    async def exec(
        self,
        name: str,
        command: Sequence[str] | str,
        timeout: float = 60.0,  # noqa: ASYNC109 (a property of the remote command)
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run ``command`` (argv, or a string for ``bash -c``) in the home with the
        Sprite's environment plus ``env``. A timeout kills it and sets ``timed_out``."""
        ...

    async def read_file(self, name: str, path: str) -> bytes: ...

    async def write_file(self, name: str, path: str, data: bytes) -> None: ...

    async def list_files(self, name: str, path: str = ".") -> list[FileEntry]: ...

    async def set_environment(
        self, name: str, token: str, environment: Mapping[str, str]
    ) -> EnvironmentUpdate:
        """Record ``environment`` for the bridge's next start and hand it to the running
        bridge; never restart it. New processes get the values at once, pi when its run ends
        (the answer says which sessions wait). A sleeping Sprite is not woken for it."""
        ...

    async def create_checkpoint(self, name: str, comment: str = "") -> Checkpoint: ...

    async def list_checkpoints(self, name: str) -> list[Checkpoint]: ...

    async def restore_checkpoint(
        self, name: str, checkpoint_id: str, *, event_id_floor: int | None = None
    ) -> SpriteStatus:
        """Bring the checkpoint's files back, keeping pi's session files and the bridge's
        event log (``restore_keeping``); when the log cannot be kept, its ids go on above
        ``event_id_floor`` (the bridge's last id before the restore)."""
        ...

    async def bridge_endpoint(self, name: str, token: str) -> BridgeEndpoint: ...

    async def list_sprites(self) -> list[SpriteInfo]: ...


SpriteServiceStatus = Literal["starting", "running", "backoff", "stopped", "error"]
"""``backoff``: it exited and the Sprite restarts it at ``next_restart_at``; ``error``: it
exited and nothing will restart it (see its log)."""
SpriteServiceAction = Literal["start", "stop", "restart"]
SPRITE_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class SpriteServiceDefinition:
    """A long-running process the Sprite itself supervises (restart on crash, started again
    on wake). ``command`` runs under ``bash -lc`` in ``cwd`` (absolute, in the home) with
    exactly ``environment`` on top of the Sprite's own (values are secret: never log them),
    and ``$PORT`` set to ``port`` when it serves HTTP there.
    """

    name: str
    command: str
    cwd: str
    environment: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None

    def __repr__(self) -> str:
        return (
            f"SpriteServiceDefinition(name={self.name!r}, cwd={self.cwd!r},"
            f" environment={sorted(self.environment)})"
        )

    def fingerprint(self) -> str:
        """Changes whenever anything of the definition does (the environment's values too),
        so a caller can tell a Sprite service that must be defined again from one that is
        up to date without reading any value back."""
        document = json.dumps(
            [self.name, self.command, self.cwd, self.port, sorted(self.environment.items())]
        )
        return hashlib.sha256(document.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SpriteService:
    """A supervised service as the Sprite reports it (no environment values)."""

    name: str
    status: SpriteServiceStatus
    command: str = ""
    cwd: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    restart_count: int = 0
    next_restart_at: datetime | None = None
    error: str | None = None
    # The fingerprint of the definition it was made from (``""`` when unknown).
    fingerprint: str = ""


@runtime_checkable
class SpriteServiceHost(Protocol):
    """A backend whose Sprites supervise the agent's services themselves (fly: Sprite
    services). A backend without it (local) leaves them to the bridge, and the control
    plane reaches them through the bridge's ``/starter/services`` routes instead.

    Service names are the Sprite's (``SPRITE_SERVICE_NAME``); the bridge's own service is
    never one of them: every method refuses it. ``define_service`` creates or replaces
    (and starts) it; ``delete_service`` of a missing one succeeds; ``stop`` of a stopped
    one succeeds.
    """

    async def define_service(
        self, name: str, definition: SpriteServiceDefinition
    ) -> SpriteService: ...

    async def delete_service(self, name: str, service: str) -> None: ...

    async def list_services(self, name: str) -> list[SpriteService]: ...

    async def service_action(
        self, name: str, service: str, action: SpriteServiceAction
    ) -> SpriteService: ...

    async def service_logs(self, name: str, service: str, lines: int = 200) -> list[str]:
        """The last ``lines`` lines of its output (stdout and stderr), oldest first."""
        ...


@runtime_checkable
class SpriteFileStreams(Protocol):
    """A Sprite's files as a person works on them (issue 17: the files panel, its viewers
    and the REST API): big files streamed, never loaded whole in the web process.

    Paths are relative to the home and confined to it exactly like ``read_file`` (a link or
    ``..`` that leaves the home fails); a symbolic link is never followed for reading,
    writing, renaming, deleting or archiving: it is reported (``stat_file``), stored as a link
    (archives) or refused with ``SpriteError(path_problem="refused")``."""

    async def stat_file(self, name: str, path: str) -> FileEntry:
        """The entry itself (lstat); ``SpriteError(path_problem="missing")`` if missing."""
        ...

    async def read_file_range(self, name: str, path: str, offset: int, length: int) -> bytes:
        """At most ``length`` bytes from ``offset`` (fewer at the end of the file)."""
        ...

    def stream_file(self, name: str, path: str) -> AsyncIterator[bytes]:
        """The whole file, in chunks of at most 1 MiB, read as they are sent."""
        ...

    def stream_archive(self, name: str, path: str = ".") -> AsyncIterator[bytes]:
        """A ``.zip`` of the folder, made as it is sent (flat memory), links stored as
        links and never followed."""
        ...

    async def write_file_stream(
        self, name: str, path: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> FileEntry:
        """Create or replace a file from ``chunks`` (written to a temporary name, then moved
        over the old one); more than ``max_bytes`` fails and leaves no file behind."""
        ...

    async def rename_file(self, name: str, source: str, destination: str) -> None:
        """Move a file or folder; refuses to replace an existing ``destination``."""
        ...

    async def delete_file(self, name: str, path: str) -> None:
        """Remove a file, a link (not what it points to) or a folder with all it holds."""
        ...


def file_streams(backend: SpriteBackend) -> SpriteFileStreams | None:
    """``backend`` as a ``SpriteFileStreams`` when it has them, else None."""
    return backend if isinstance(backend, SpriteFileStreams) else None


def service_host(backend: SpriteBackend) -> SpriteServiceHost | None:
    """``backend`` as a ``SpriteServiceHost`` when its Sprites supervise services, else None."""
    return backend if isinstance(backend, SpriteServiceHost) else None


def validate_service_name(service: str, *, reserved: frozenset[str] = frozenset()) -> str:
    """A Sprite service's name becomes a URL path segment: keep it boring, and keep the
    platform's own services out of reach."""
    if not isinstance(service, str) or not SPRITE_SERVICE_NAME.fullmatch(service):
        raise SpriteError(
            f"Invalid service name {service!r}: use 1-63 lowercase letters, digits and dashes,"
            " starting with a letter or digit."
        )
    if service in reserved:
        raise SpriteError(f"The service {service!r} belongs to Starter and cannot be changed.")
    return service


T = TypeVar("T")

_SPRITE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def run_sync(awaitable: Coroutine[Any, Any, T]) -> T:
    """Run one backend call from synchronous code (Celery tasks, views, management commands).

    Each call gets its own event loop, so nothing loop-bound leaks between calls. When the
    calling thread already runs a loop (a sync helper called from a browser-driving test,
    say), the call gets its loop in a helper thread instead of failing: the caller is
    synchronous and blocks either way. Async code should await the backend itself (see
    ``projects.bridge.client.aendpoint_for``) rather than come here.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(awaitable)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sprite-backend") as executor:
        return executor.submit(asyncio.run, awaitable).result()


async def resolve_environment(source: EnvironmentSource, name: str) -> BridgeEnvironment:
    """Call an environment source that may be sync or async."""
    # A sync source may touch a database with blocking calls: keep it off the loop.
    if inspect.iscoroutinefunction(source):
        result = await source(name)
    else:
        result = await asyncio.to_thread(source, name)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, BridgeEnvironment):
        raise SpriteError(f"The environment source returned nothing usable for Sprite {name!r}.")
    return result


def validate_sprite_name(name: str) -> str:
    """Sprite names become directory names and URL parts: keep them boring."""
    if not _SPRITE_NAME.fullmatch(name):
        raise SpriteError(
            f"Invalid Sprite name {name!r}: use 1-63 lowercase letters, digits and dashes,"
            " starting with a letter or digit."
        )
    return name


async def report_progress(
    progress: ProgressCallback | None, steps: Sequence[str], index: int
) -> None:
    """Tell ``progress`` that ``steps[index]`` starts. The callback may be a coroutine
    function: inside a backend call there is a running loop, so a sync callback must not
    use ``async_to_sync``."""
    if progress is None:
        return
    result = progress(steps[index], index + 1, len(steps))
    if inspect.isawaitable(result):
        await result


RESERVED_ENVIRONMENT_NAMES = frozenset(
    {"PATH", "HOME", "USER", "SHELL", "LANG", "PWD", "PYTHONPATH", "PYTHONHOME", "LD_PRELOAD",
     "LD_LIBRARY_PATH", "NODE_OPTIONS", "HOST", "PORT"}
)  # fmt: skip
_ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def environment_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a project secret's variable name, or ``None`` if it can.

    The backends set these themselves (or the bridge relies on them), so a secret must
    not replace them; ``STARTER_*`` is the bridge's own namespace."""
    if not _ENVIRONMENT_NAME.fullmatch(name):
        return "use letters, digits and underscores, not starting with a digit"
    if name.upper() in RESERVED_ENVIRONMENT_NAMES or name.upper().startswith("STARTER_"):
        return f"{name} is set by Starter itself; choose another name"
    return None
