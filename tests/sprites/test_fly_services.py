"""The agent's services as Sprite services: the fly backend against the fake Sprites API,
which runs them as real processes and supervises them like a Sprite does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from sprites.backends import SpriteError
from sprites.backends.base import SpriteService, SpriteServiceDefinition, service_host
from sprites.backends.fly import FlyBackend
from sprites.backends.fly_bootstrap import BRIDGE_SERVICE
from sprites.backends.local import LocalBackend
from tests.support.fake_sprites_api import RunningFake

HOME = "/home/sprite"


def definition(command: str = "exec sleep 600", **overrides: object) -> SpriteServiceDefinition:
    values: dict[str, object] = {
        "name": "agent-web",
        "command": overrides.pop("command", command),
        "cwd": HOME,
        "environment": {"PROJECT_SECRET": "s3cret"},
    }
    values.update(overrides)
    return SpriteServiceDefinition(**values)  # type: ignore[arg-type]


async def eventually(
    probe: Callable[[], Awaitable[SpriteService | None]], seconds: float = 15.0
) -> SpriteService:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await probe()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("the condition did not hold in time")


async def service_named(backend: FlyBackend, name: str) -> SpriteService:
    services = {service.name: service for service in await backend.list_services("fly-a")}
    return services[name]


def test_only_the_fly_backend_hosts_sprite_services(
    fly_backend: FlyBackend, local_backend: LocalBackend
) -> None:
    assert service_host(fly_backend) is fly_backend
    assert service_host(local_backend) is None


async def test_a_defined_service_runs_with_its_environment_and_logs(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    await fly_backend.create("fly-a")
    await fly_backend.write_file("fly-a", "app/.keep", b"")
    service = await fly_backend.define_service(
        "fly-a",
        definition(
            'echo "secret=$PROJECT_SECRET port=$PORT dir=$(basename "$PWD")"; exec sleep 600',
            cwd="app",
            port=3000,
        ),
    )
    assert service.status == "running" and service.cwd == f"{HOME}/app"
    assert "sleep 600" in service.command
    fake = fake_api.state.sprites["fly-a"].services["agent-web"]
    assert (fake.cmd, fake.args[0], fake.http_port) == ("bash", "-lc", None)

    async def logged() -> SpriteService | None:
        lines = await fly_backend.service_logs("fly-a", "agent-web")
        return service if "secret=s3cret port=3000 dir=app" in lines else None

    await eventually(logged)
    assert [s.name for s in await fly_backend.list_services("fly-a")] == ["agent-web"]


async def test_a_crashing_service_is_restarted_with_backoff(fly_backend: FlyBackend) -> None:
    await fly_backend.create("fly-a")
    await fly_backend.define_service("fly-a", definition("echo crashing; exit 3"))

    async def in_backoff() -> SpriteService | None:
        service = await service_named(fly_backend, "agent-web")
        return service if service.status == "backoff" and service.restart_count >= 1 else None

    waiting = await eventually(in_backoff)
    assert waiting.next_restart_at is not None
    later = await eventually(
        lambda: _with_more_restarts(fly_backend, waiting.restart_count), seconds=20
    )
    assert later.restart_count > waiting.restart_count
    assert (await fly_backend.service_logs("fly-a", "agent-web", lines=2)) == [
        "crashing",
        "crashing",
    ]
    # Stopping it ends the restarts.
    stopped = await fly_backend.service_action("fly-a", "agent-web", "stop")
    assert stopped.status == "stopped" and stopped.next_restart_at is None


async def _with_more_restarts(backend: FlyBackend, count: int) -> SpriteService | None:
    service = await service_named(backend, "agent-web")
    return service if service.restart_count > count else None


async def test_stop_start_restart_and_delete(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    await fly_backend.create("fly-a")
    first = await fly_backend.define_service("fly-a", definition("exec sleep 600"))
    stopped = await fly_backend.service_action("fly-a", "agent-web", "stop")
    assert stopped.status == "stopped"
    # Stopping a stopped service is harmless.
    assert (await fly_backend.service_action("fly-a", "agent-web", "stop")).status == "stopped"
    started = await fly_backend.service_action("fly-a", "agent-web", "start")
    assert started.status == "running" and started.pid != first.pid
    restarted = await fly_backend.service_action("fly-a", "agent-web", "restart")
    assert restarted.status == "running" and restarted.pid != started.pid
    await fly_backend.delete_service("fly-a", "agent-web")
    await fly_backend.delete_service("fly-a", "agent-web")
    assert await fly_backend.list_services("fly-a") == []
    assert fake_api.state.sprites["fly-a"].services == {}


async def test_services_stop_when_the_sprite_falls_cold_and_start_again_when_it_wakes(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    await fly_backend.create("fly-a")
    await fly_backend.define_service("fly-a", definition("exec sleep 600"))
    sprite = fake_api.state.sprites["fly-a"]
    await asyncio.to_thread(fake_api.state.make_cold, sprite)
    assert sprite.services["agent-web"].process is None
    # Any use wakes it, and the Sprite starts what ran before.
    assert (await service_named(fly_backend, "agent-web")).status == "running"


async def test_sleep_stops_the_agents_services_too(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    await fly_backend.bootstrap("fly-a", "bridge-token", {})
    await fly_backend.define_service("fly-a", definition("exec sleep 600"))
    assert (await fly_backend.sleep("fly-a")).state == "stopped"
    services = fake_api.state.sprites["fly-a"].services
    assert services["agent-web"].status == "stopped"
    assert services[BRIDGE_SERVICE].status == "stopped"
    # Waking starts the bridge only: which services run is the control plane's call.
    assert (await fly_backend.wake("fly-a")).state == "running"
    assert services["agent-web"].status == "stopped"
    assert [s.name for s in await fly_backend.list_services("fly-a")] == ["agent-web"]


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "../x"},
        {"name": "x/../../other/services/y"},
        {"name": "UPPER"},
        {"name": "a%2Fb"},
        {"name": BRIDGE_SERVICE},
        {"command": "sleep 1\nrm -rf ~"},
        {"command": "sleep 1\r"},
        {"command": ""},
        {"command": "x" * 4001},
        {"cwd": "/etc"},
        {"cwd": "../other"},
        {"environment": {"PATH": "/evil"}},
        {"environment": {"LD_PRELOAD": "/tmp/evil.so"}},
        {"environment": {"STARTER_BRIDGE_TOKEN": "stolen"}},
        {"environment": {"BAD-NAME": "x"}},
        {"port": 0},
        {"port": 70000},
    ],
)
async def test_a_hostile_definition_is_refused_before_any_request(
    fly_backend: FlyBackend, fake_api: RunningFake, bad: dict[str, object]
) -> None:
    await fly_backend.create("fly-a")
    with pytest.raises(SpriteError):
        await fly_backend.define_service("fly-a", definition(**bad))
    assert fake_api.state.sprites["fly-a"].services == {}


@pytest.mark.parametrize("name", ["../x", BRIDGE_SERVICE, "a/b", ""])
async def test_actions_refuse_names_that_are_not_an_agent_service(
    fly_backend: FlyBackend, name: str
) -> None:
    for call in (
        fly_backend.service_action("fly-a", name, "stop"),
        fly_backend.service_logs("fly-a", name),
        fly_backend.delete_service("fly-a", name),
    ):
        with pytest.raises(SpriteError):
            await call


async def test_logs_and_actions_of_a_missing_service_are_clear_errors(
    fly_backend: FlyBackend,
) -> None:
    await fly_backend.create("fly-a")
    for call in (
        fly_backend.service_logs("fly-a", "nothing"),
        fly_backend.service_action("fly-a", "nothing", "restart"),
        fly_backend.service_action("fly-a", "nothing", "start"),
    ):
        with pytest.raises(SpriteError) as missing:
            await call
        assert not missing.value.retryable
