"""The Fly backend: Sprites through the Sprites API and sprites-py's async client.

The bridge runs as the Sprite service ``starter-bridge`` on port 8080, so the Sprite's
URL (private: ``url_settings.auth = "sprite"``) routes to it. Its token, the project's
secrets and its gateway token live only in that service's environment (provider keys never
enter a Sprite: pi reaches the model gateway's public URL with that token).

A service's definition cannot change without a restart (a PUT stops and starts it), so new
secrets go to the running bridge over its API (``set_environment``; its keeper keeps them for
a bridge that crashes), and the definition is renewed at the next wake, when the service is
started anyway.

A client is opened per call: each Celery task runs its own event loop (``run_sync``),
and an httpx client must not outlive the loop it was made in.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bridge_agent.protocol import SERVICE_RUNNER_SPRITE, SERVICE_RUNNER_VARIABLE
from sprites.backends.base import (
    BridgeEndpoint,
    Checkpoint,
    EnvironmentSource,
    EnvironmentUpdate,
    ExecResult,
    ProgressCallback,
    SpriteError,
    SpriteInfo,
    SpriteState,
    SpriteStatus,
    report_progress,
    resolve_environment,
    validate_sprite_name,
)
from sprites.backends.environment_update import bridge_variables, hand_over
from sprites.backends.fly_bootstrap import (
    BRIDGE_HTTP_PORT,
    BRIDGE_SERVICE,
    INSTALL_PI,
    RUN_BRIDGE,
    STARTER_DIR,
    bridge_files,
    bridge_requirements,
    install_python_script,
)
from sprites.backends.fly_errors import translated
from sprites.backends.fly_file_streams import FlyFileStreamMethods
from sprites.backends.fly_services import FlyServiceMethods
from sprites.backends.home_paths import confined_remote_path
from sprites.backends.local import PROJECT_ROOT
from sprites.backends.restore_keeping import Listed, RestoreMarker, put_back, snapshot
from sprites.backends.sdk import load_sdk, load_sdk_module

DEFAULT_API_URL = "https://api.sprites.dev"
_CHECKPOINT_ID = re.compile(r"\b(v\d+)\b")
# The exit status of coreutils' timeout(1) when it had to stop the command.
_TIMED_OUT_CODES = (124, 137)


class FlyBackend(FlyServiceMethods, FlyFileStreamMethods):
    kind = "fly"

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_API_URL,
        *,
        bridge_source: Path | str = PROJECT_ROOT / "bridge_agent",
        home: str = "/home/sprite",
        timeout: float = 30.0,
        environment_source: EnvironmentSource | None = None,
        health_timeout: float = 60.0,
    ) -> None:
        """``token`` is a Sprites API token (the user's own, or the platform's):
        the caller picks it. ``environment_source`` adds the secrets to ``exec``, and gives
        ``wake`` today's values to renew the bridge's service with."""
        if not token:
            raise SpriteError(
                "No Sprites API token: set one in your settings or STARTER_SPRITES_TOKEN."
            )
        self._token = token
        self.base_url = base_url.rstrip("/")
        self._bridge_source = Path(bridge_source)
        self.home = home
        self._timeout = timeout
        self._environment_source = environment_source
        self._health_timeout = health_timeout
        self._sdk = load_sdk()
        self._errors = load_sdk_module("exceptions")

    def __repr__(self) -> str:
        return f"FlyBackend(base_url={self.base_url!r}, token=***)"

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        client = self._sdk.AsyncSpritesClient(
            self._token, base_url=self.base_url, timeout=self._timeout
        )
        try:
            yield client
        finally:
            await client.aclose()

    @contextlib.asynccontextmanager
    async def _sprite(self, name: str) -> AsyncIterator[Any]:
        """A handle on an existing Sprite (no request is made for it)."""
        validate_sprite_name(name)
        async with self._client() as client:
            yield client.sprite(name)

    # -- lifecycle ----------------------------------------------------------------

    async def create(self, name: str) -> SpriteStatus:
        validate_sprite_name(name)
        async with self._client() as client:
            with translated(f"look up Sprite {name!r}"):
                try:
                    await client.get_sprite(name)
                except self._errors.NotFoundError:
                    await client.create_sprite(
                        name, url_settings=self._sdk.URLSettings(auth="sprite")
                    )
        return await self.status(name)

    async def bootstrap(
        self,
        name: str,
        token: str,
        environment: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> SpriteStatus:
        steps = [
            "Creating the Sprite",
            "Installing node and pi",
            "Uploading the bridge",
            "Installing the bridge's dependencies",
            "Starting the bridge",
            "Waiting for the bridge",
        ]
        await report_progress(progress, steps, 0)
        await self.create(name)
        await report_progress(progress, steps, 1)
        await self._run_step(name, INSTALL_PI, "install node and pi", seconds=900)
        await report_progress(progress, steps, 2)
        await self._upload_bridge(name)
        await report_progress(progress, steps, 3)
        await self._run_step(
            name, install_python_script(bridge_requirements()), "install the bridge", seconds=900
        )
        await report_progress(progress, steps, 4)
        await self._define_bridge_service(name, token, environment)
        await report_progress(progress, steps, 5)
        await self._wait_until_healthy(name)
        return await self.status(name)

    async def _run_step(self, name: str, script: str, action: str, seconds: float) -> None:
        result = await self.exec(name, ["bash", "-c", script], timeout=seconds)
        if not result.ok:
            output = (result.stderr or result.stdout).decode(errors="replace").strip()[-500:]
            raise SpriteError(
                f"Could not {action} in Sprite {name!r} (exit {result.exit_code}): {output}",
                # Missing node or an old Python will not fix itself; a flaky download might.
                retryable=result.exit_code != 3,
            )

    async def _upload_bridge(self, name: str) -> None:
        if not (self._bridge_source / "__main__.py").is_file():
            raise SpriteError(f"The bridge is not where it should be: {self._bridge_source}.")
        base = posixpath.join(self.home, STARTER_DIR)
        async with self._sprite(name) as sprite:
            filesystem = sprite.filesystem(base)
            with translated(f"upload the bridge to Sprite {name!r}"):
                with contextlib.suppress(self._errors.FileNotFoundError_):
                    await (filesystem / "bridge").rmtree()
                limit = asyncio.Semaphore(8)

                async def upload(relative: str, data: bytes) -> None:
                    async with limit:
                        await (filesystem / "bridge" / relative).write_bytes(data)

                uploads = [upload(path, data) for path, data in bridge_files(self._bridge_source)]
                await asyncio.gather(*uploads)
                await (filesystem / "run-bridge.sh").write_bytes(RUN_BRIDGE.encode(), mode=0o755)

    async def _define_bridge_service(
        self, name: str, token: str, environment: Mapping[str, str]
    ) -> None:
        """(Re)define the bridge service with this environment and make sure it runs."""
        service_environment = self._service_environment(token, environment)
        async with self._sprite(name) as sprite:
            with translated(f"start the bridge in Sprite {name!r}"):
                with contextlib.suppress(self._errors.APIError):  # 404 or 409: not running
                    await sprite.stop_service(BRIDGE_SERVICE)
                await sprite.create_service(
                    BRIDGE_SERVICE,
                    "bash",
                    # Relative to ``dir``: the command should not depend on where the
                    # home is mounted.
                    [posixpath.join(STARTER_DIR, "run-bridge.sh")],
                    http_port=BRIDGE_HTTP_PORT,
                    env=service_environment,
                    dir=self.home,
                )
                service = await sprite.get_service(BRIDGE_SERVICE)
                if service.state is None or service.state.status != "running":
                    await sprite.start_service(BRIDGE_SERVICE)

    @staticmethod
    def _service_environment(token: str, environment: Mapping[str, str]) -> dict[str, str]:
        return {
            **bridge_variables(environment),
            "STARTER_BRIDGE_TOKEN": token,
            # The Sprite supervises the agent's services (the control plane defines them
            # from the bridge's registry): the bridge records them and runs none itself.
            SERVICE_RUNNER_VARIABLE: SERVICE_RUNNER_SPRITE,
        }

    async def _wait_until_healthy(self, name: str) -> None:
        """Poll ``/starter/health`` through the Sprite's URL, as the control plane will."""
        url = await self._sprite_url(name)
        deadline = time.monotonic() + self._health_timeout
        last = "no answer"
        async with httpx.AsyncClient(timeout=10.0) as client:
            while time.monotonic() < deadline:
                try:
                    response = await client.get(
                        f"{url}/starter/health", headers={"Authorization": f"Bearer {self._token}"}
                    )
                    if response.status_code == 200:
                        return
                    last = f"status {response.status_code}"
                except httpx.HTTPError as error:
                    last = type(error).__name__
                await asyncio.sleep(0.5)
        raise SpriteError(
            f"The bridge in Sprite {name!r} did not become healthy ({last}); see the service"
            f" log of {BRIDGE_SERVICE}.",
            retryable=True,
        )

    async def _sprite_url(self, name: str) -> str:
        async with self._client() as client:
            with translated(f"look up Sprite {name!r}"):
                sprite = await client.get_sprite(name)
        if not sprite.url:
            raise SpriteError(f"Sprite {name!r} has no URL yet; try again.", retryable=True)
        return str(sprite.url).rstrip("/")

    async def status(self, name: str) -> SpriteStatus:
        validate_sprite_name(name)
        async with self._client() as client:
            with translated(f"look up Sprite {name!r}"):
                try:
                    sprite = await client.get_sprite(name)
                except self._errors.NotFoundError:
                    return SpriteStatus(name, "missing")
                try:
                    service = await sprite.get_service(BRIDGE_SERVICE)
                except self._errors.APIError as error:
                    if error.status_code != 404:
                        raise
                    return SpriteStatus(name, "created", f"machine {sprite.status}; no bridge yet")
        service_status = service.state.status if service.state else "stopped"
        state: SpriteState = {"running": "running", "stopped": "stopped"}.get(
            service_status, "failed"
        )  # type: ignore[assignment]
        return SpriteStatus(name, state, f"machine {sprite.status}; bridge {service_status}")

    async def wake(self, name: str) -> SpriteStatus:
        """Start the bridge; with an environment source, with today's secrets: a definition
        that holds older ones is renewed first (it was not, when they changed, so as not to
        restart the bridge then)."""
        current = None
        if self._environment_source is not None:
            current = await resolve_environment(self._environment_source, name)
            if not current.token:
                current = None
        async with self._sprite(name) as sprite:
            with translated(f"wake Sprite {name!r}"):
                service = await sprite.get_service(BRIDGE_SERVICE)
                running = service.state is not None and service.state.status == "running"
        stale = current is not None and dict(service.env or {}) != self._service_environment(
            current.token, current.variables
        )
        if current is not None and stale and not running:
            await self._define_bridge_service(name, current.token, current.variables)
        elif not running:
            async with self._sprite(name) as sprite:
                with translated(f"wake Sprite {name!r}"):
                    await sprite.start_service(BRIDGE_SERVICE)
        await self._wait_until_healthy(name)
        if current is not None and stale and running:
            # Started by a visit, with the old definition: hand it today's values.
            endpoint = await self.bridge_endpoint(name, current.token)
            await hand_over(endpoint, current.variables, name)
        return await self.status(name)

    async def sleep(self, name: str) -> SpriteStatus:
        """Stop the bridge and the agent's services; the Sprite pauses by itself once idle.

        A service stopped here stays stopped when the Sprite wakes by itself (a visit to its
        URL starts the bridge only): the control plane's wake starts the services the
        bridge's registry wants running."""
        async with self._sprite(name) as sprite:
            with translated(f"put Sprite {name!r} to sleep"):
                for service in await sprite.list_services():
                    if service.name == BRIDGE_SERVICE:
                        continue
                    with contextlib.suppress(self._errors.APIError):  # not running
                        await sprite.stop_service(service.name)
                try:
                    await sprite.stop_service(BRIDGE_SERVICE)
                except self._errors.APIError as error:
                    if error.status_code not in (404, 409):  # already stopped / no bridge
                        raise
        return await self.status(name)

    async def destroy(self, name: str) -> None:
        validate_sprite_name(name)
        async with self._client() as client:
            with translated(f"destroy Sprite {name!r}"):
                with contextlib.suppress(self._errors.NotFoundError):
                    await client.delete_sprite(name)

    async def set_environment(
        self, name: str, token: str, environment: Mapping[str, str]
    ) -> EnvironmentUpdate:
        """Hand the values to the running bridge; a stopped one gets them at its next wake,
        which renews the service's definition (never a PUT now: that would restart it)."""
        async with self._sprite(name) as sprite:
            with translated(f"look up the bridge of Sprite {name!r}"):
                try:
                    service = await sprite.get_service(BRIDGE_SERVICE)
                except self._errors.APIError as error:
                    if error.status_code != 404:
                        raise
                    return EnvironmentUpdate("next_start")
        if service.state is None or service.state.status != "running":
            return EnvironmentUpdate("next_start")
        endpoint = await self.bridge_endpoint(name, token)
        return await hand_over(endpoint, environment, name)

    # -- commands and files ------------------------------------------------------------

    async def exec(
        self,
        name: str,
        command: Sequence[str] | str,
        timeout: float = 60.0,  # noqa: ASYNC109 (enforced in the Sprite by timeout(1))
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        variables: dict[str, str] = {}
        if self._environment_source is not None:
            variables.update((await resolve_environment(self._environment_source, name)).variables)
        variables.update(env or {})
        # The exec API's env parameter replaces the whole environment (PATH included),
        # so extra variables go through env(1) instead.
        prefix = (
            ["env", *(f"{key}={value}" for key, value in variables.items())] if variables else []
        )
        # timeout(1) stops the command in the Sprite; the SDK's timeout only stops waiting.
        remote = ["timeout", "-k", "5", f"{timeout:g}", *prefix, *argv]
        started = time.monotonic()
        async with self._sprite(name) as sprite:
            with translated(f"run a command in Sprite {name!r}"):
                try:
                    completed = await sprite.run(
                        *remote, capture_output=True, timeout=timeout + 30, cwd=self.home
                    )
                except TimeoutError:
                    return ExecResult(-1, b"", b"", timed_out=True)
        elapsed = time.monotonic() - started
        timed_out = completed.returncode in _TIMED_OUT_CODES and elapsed >= timeout * 0.9
        return ExecResult(
            completed.returncode, completed.stdout or b"", completed.stderr or b"", timed_out
        )

    def _relative(self, path: str) -> str:
        absolute = confined_remote_path(self.home, path)
        return posixpath.relpath(absolute, self.home)

    async def read_file(self, name: str, path: str) -> bytes:
        relative = self._relative(path)
        async with self._sprite(name) as sprite:
            with translated(f"read {path!r} in Sprite {name!r}"):
                data: bytes = await (sprite.filesystem(self.home) / relative).read_bytes()
        return data

    async def write_file(self, name: str, path: str, data: bytes) -> None:
        relative = self._relative(path)
        if relative == ".":
            raise SpriteError("Give a file path, not the home itself.", path_problem="refused")
        async with self._sprite(name) as sprite:
            with translated(f"write {path!r} in Sprite {name!r}"):
                await (sprite.filesystem(self.home) / relative).write_bytes(data)

    # -- checkpoints ----------------------------------------------------------------

    async def create_checkpoint(self, name: str, comment: str = "") -> Checkpoint:
        async with self._sprite(name) as sprite:
            with translated(f"create a checkpoint of Sprite {name!r}"):
                messages = list(await sprite.create_checkpoint(comment))
        errors = [m for m in messages if m.type == "error"]
        if errors:
            raise SpriteError(
                f"Creating the checkpoint failed: {errors[0].error or errors[0].data}"
            )
        found = [m for m in messages if m.data and _CHECKPOINT_ID.search(str(m.data))]
        checkpoints = await self.list_checkpoints(name)
        if found:
            checkpoint_id = _CHECKPOINT_ID.search(str(found[-1].data)).group(1)  # type: ignore[union-attr]
            for checkpoint in checkpoints:
                if checkpoint.id == checkpoint_id:
                    return checkpoint
        if not checkpoints:
            raise SpriteError("The checkpoint was not listed after it was created.", retryable=True)
        return max(checkpoints, key=lambda checkpoint: checkpoint.created_at)

    async def list_checkpoints(self, name: str) -> list[Checkpoint]:
        async with self._sprite(name) as sprite:
            with translated(f"list the checkpoints of Sprite {name!r}"):
                listed = await sprite.list_checkpoints()
        return [
            Checkpoint(id=item.id, comment=item.comment or "", created_at=item.create_time)
            for item in listed
            if item.id != "Current"  # the live state, not a checkpoint
        ]

    async def restore_checkpoint(
        self, name: str, checkpoint_id: str, *, event_id_floor: int | None = None
    ) -> SpriteStatus:
        """Stop the bridge, keep pi's session files and the event log (``restore_keeping``),
        restore, put them back marked, start the bridge again if it was running."""
        comment = next(
            (c.comment for c in await self.list_checkpoints(name) if c.id == checkpoint_id), ""
        )
        was_running = (await self.status(name)).is_running
        await self.sleep(name)  # stops the bridge: nothing writes the files meanwhile
        files = _FlyHomeFiles(self, name)
        with tempfile.TemporaryDirectory(prefix="starter-restore-") as spool:
            kept = await snapshot(files, Path(spool))
            async with self._sprite(name) as sprite:
                with translated(f"restore checkpoint {checkpoint_id!r} of Sprite {name!r}"):
                    messages = list(await sprite.restore_checkpoint(checkpoint_id))
            errors = [m for m in messages if m.type == "error"]
            if errors:
                raise SpriteError(
                    f"Restoring the checkpoint failed: {errors[0].error or errors[0].data}"
                )
            await self.sleep(name)  # a restore may bring back the service's old state
            marker = RestoreMarker(checkpoint_id, comment, datetime.now(UTC))
            await put_back(files, kept, marker, event_id_floor)
        if was_running:
            return await self.wake(name)
        return await self.status(name)

    # -- reaching the bridge ------------------------------------------------------------

    async def bridge_endpoint(self, name: str, token: str) -> BridgeEndpoint:
        url = await self._sprite_url(name)
        # The Sprite URL is private: the Sprites token opens it, the bridge token the bridge.
        return BridgeEndpoint(
            url, {"Authorization": f"Bearer {self._token}", "X-Starter-Token": token}
        )

    async def list_sprites(self) -> list[SpriteInfo]:
        states: dict[str, SpriteState] = {
            "running": "running",
            "warm": "stopped",
            "cold": "stopped",
        }
        infos: list[SpriteInfo] = []
        continuation: str | None = None
        async with self._client() as client:
            with translated("list Sprites"):
                while True:
                    page = await client.list_sprites(
                        self._sdk.ListOptions(max_results=50, continuation_token=continuation)
                    )
                    infos.extend(
                        SpriteInfo(
                            name=info.name,
                            state=states.get(info.status, "failed"),
                            created_at=info.created_at,
                        )
                        for info in page.sprites
                    )
                    if not page.has_more:
                        return infos
                    continuation = page.next_continuation_token


class _FlyHomeFiles:
    """``restore_keeping``'s access to a Fly Sprite's home, through the files API."""

    def __init__(self, backend: FlyBackend, name: str) -> None:
        self._backend = backend
        self._name = name

    async def list(self, path: str) -> list[Listed]:
        try:
            entries = await self._backend.list_files(self._name, path)
        except SpriteError:
            return []
        return [
            Listed(entry.name, entry.size, not entry.is_dir and not entry.is_link)
            for entry in entries
        ]

    async def read(self, path: str, limit: int) -> bytes | None:
        # The API reads whole files: the caller has checked the size in a listing first.
        try:
            data = await self._backend.read_file(self._name, path)
        except SpriteError:
            return None
        return data[:limit]

    async def write(self, path: str, data: bytes) -> None:
        await self._backend.write_file(self._name, path, data)
