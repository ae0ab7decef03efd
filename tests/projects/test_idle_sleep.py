"""Issue 15, idle means idle (acceptance 3): beat's idle sleep leaves a project awake while its
agent runs or a viewer watches, and still puts an unused one to sleep.

Real stack (daphne holds the viewers' presence in Redis), real bridges, pi and the scripted
model. The idle check runs in this process (``steps.sleep_if_idle``, what beat's task runs)
with a short idle setting; the live worker keeps the default.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.tokens import create_api_token
from projects.actions import create_project, destroy_project
from projects.bridge.client import call_bridge
from projects.bridge.probe import AgentActivity, agent_activity, next_job_at, parse_job_time
from projects.lifecycle import idle, presence
from projects.lifecycle import steps as lifecycle
from projects.lifecycle.work_lock import is_locked
from projects.models import Project, Status
from projects.tasks import wake_projects_with_due_jobs
from starter.redis import redis_client
from tests.e2e.helpers import use_scripted_model, wait_for, wait_for_status
from tests.relay.viewer import Viewer
from tests.support.fixtures import scripted_model_server
from tests.support.live_stack import LiveStack
from tests.support.model_server import ScriptedModelServer

__all__ = ["scripted_model_server"]

pytestmark = pytest.mark.django_db(transaction=True)

IDLE_SECONDS = 2


@pytest.fixture
def short_idle(live_stack: LiveStack, settings: object) -> LiveStack:
    settings.DATA_DIR = live_stack.data_dir  # type: ignore[attr-defined]
    settings.STARTER_IDLE_SLEEP_SECONDS = IDLE_SECONDS  # type: ignore[attr-defined]
    return live_stack


@pytest.fixture
def owner(short_idle: LiveStack, scripted_model_server: ScriptedModelServer) -> User:
    user = User.objects.create_user("idle-owner@example.com", "pw-long-enough-1")
    use_scripted_model(user, scripted_model_server.base_url)
    return user


@pytest.fixture
def project(owner: User) -> Iterator[Project]:
    project = create_project(owner, "Idle")
    wait_for_status(project, Status.RUNNING)
    # The provisioning step reports running just before it lets go of the work lock.
    wait_for(lambda: not is_locked(project.pk), timeout=10, message="the work lock free")
    yield project
    project.refresh_from_db()
    destroy_project(project)
    wait_for_status(project, Status.DESTROYED)


def _age(project: Project) -> None:
    """As if nobody had made a request for longer than the idle time."""
    Project.objects.filter(pk=project.pk).update(
        last_activity_at=timezone.now() - timedelta(seconds=IDLE_SECONDS + 5)
    )


def _status(project: Project) -> str:
    project.refresh_from_db()
    return str(project.status)


def test_project_with_nothing_open_and_no_run_sleeps(project: Project) -> None:
    _age(project)
    lifecycle.sleep_if_idle(project.pk)
    assert _status(project) == Status.SLEEPING
    project.refresh_from_db()
    # The bridge has no cron job (nor, before issue 15's services, the route): nothing to wake.
    assert project.next_job_at is None


def test_recently_used_project_stays_awake(project: Project) -> None:
    lifecycle.sleep_if_idle(project.pk)
    assert _status(project) == Status.RUNNING


def test_open_viewer_keeps_project_awake_and_closing_it_lets_it_sleep(
    project: Project, short_idle: LiveStack, owner: User
) -> None:
    token = create_api_token(owner, "idle")[1]
    viewer = Viewer(short_idle.url, project.public_id, token, None)
    try:
        wait_for(lambda: presence.has_viewers(project.public_id), timeout=10, message="presence")
        _age(project)
        lifecycle.sleep_if_idle(project.pk)
        assert _status(project) == Status.RUNNING
        project.refresh_from_db()
        assert project.last_activity_at > timezone.now() - timedelta(seconds=IDLE_SECONDS)
    finally:
        viewer.close()
    wait_for(lambda: not presence.has_viewers(project.public_id), timeout=10, message="no one")
    _age(project)
    lifecycle.sleep_if_idle(project.pk)
    assert _status(project) == Status.SLEEPING


def test_running_prompt_watched_by_a_viewer_is_not_interrupted(
    project: Project, short_idle: LiveStack, owner: User
) -> None:
    """Acceptance 3: a run longer than the idle time, only a viewer watching, beat looking
    every second: the run ends by itself and the project never sleeps."""
    token = create_api_token(owner, "idle")[1]
    viewer = Viewer(short_idle.url, project.public_id, token, 0)
    try:
        call_bridge(project, "POST", "/starter/prompt", json_body={"message": "[[slow: 55]]"})
        viewer.wait_event("agent_start")
        started = time.monotonic()
        while not any(e["type"] == "agent_settled" for e in viewer.events):
            assert time.monotonic() - started < 90, "the run did not end"
            _age(project)  # no request at all: only the run and the viewer
            lifecycle.sleep_if_idle(project.pk)
            assert _status(project) == Status.RUNNING
            time.sleep(1)
        assert time.monotonic() - started > IDLE_SECONDS * 2
        ends = [e for e in viewer.events if e["type"] == "agent_end"]
        assert ends and not ends[-1]["data"].get("interrupted")
    finally:
        viewer.close()


def test_running_prompt_alone_keeps_project_awake(project: Project) -> None:
    """Nobody watches: the agent's run alone is use."""
    call_bridge(project, "POST", "/starter/prompt", json_body={"message": "[[slow: 60]]"})
    wait_for(lambda: agent_activity(project).busy, timeout=30, message="the run")
    for _ in range(3):
        _age(project)
        lifecycle.sleep_if_idle(project.pk)
        assert _status(project) == Status.RUNNING
        time.sleep(1.5)
    wait_for(lambda: not agent_activity(project).busy, timeout=60, message="the run's end")
    _age(project)
    lifecycle.sleep_if_idle(project.pk)
    assert _status(project) == Status.SLEEPING


def test_due_job_wakes_sleeping_project_through_the_wake_task(project: Project) -> None:
    lifecycle.sleep(project.pk)
    assert _status(project) == Status.SLEEPING
    Project.objects.filter(pk=project.pk).update(next_job_at=timezone.now() - timedelta(seconds=1))
    assert wake_projects_with_due_jobs() == 1
    assert wake_projects_with_due_jobs() == 0  # claimed once
    wait_for_status(project, Status.RUNNING)
    project.refresh_from_db()
    assert project.next_job_at is None


def test_job_not_yet_due_leaves_project_asleep(project: Project) -> None:
    lifecycle.sleep(project.pk)
    Project.objects.filter(pk=project.pk).update(next_job_at=timezone.now() + timedelta(hours=1))
    assert wake_projects_with_due_jobs() == 0
    assert _status(project) == Status.SLEEPING


def test_bridge_without_services_route_means_no_job(project: Project) -> None:
    assert next_job_at(project) is None


# -- presence and the bounds on a bridge's word (real Redis, no Sprite) -----------------------


def test_presence_of_a_dead_web_process_expires(settings: object) -> None:
    public_id = "p-presence-expiry"
    key = presence._key(public_id)
    client = redis_client()
    # What a web process that died left behind: an entry whose time has passed.
    client.zadd(key, {"dead-process-socket": time.time() - 1})
    assert not presence.has_viewers(public_id)
    client.zadd(key, {"live-socket": time.time() + 30})
    assert presence.has_viewers(public_id)
    client.delete(key)


def test_presence_is_refreshed_while_open_and_gone_when_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    monkeypatch.setattr(presence, "PRESENCE_TTL_SECONDS", 1.0)
    monkeypatch.setattr(presence, "REFRESH_SECONDS", 0.3)
    public_id = "p-presence-refresh"
    seen: list[bool] = []

    async def hold() -> None:
        async with presence.viewer_present(public_id):
            for _ in range(4):  # 2 s: twice the TTL, alive only by its refreshes
                await asyncio.sleep(0.5)
                seen.append(await asyncio.to_thread(presence.has_viewers, public_id))
        seen.append(await asyncio.to_thread(presence.has_viewers, public_id))
        await presence._async_client().aclose()  # type: ignore[attr-defined]
        presence._clients.clear()

    asyncio.run(hold())
    assert seen == [True, True, True, True, False]


def _fake_project(pk: int) -> Project:
    return Project(pk=pk, public_id=f"fake{pk}")


def test_busy_bridge_without_new_events_stops_counting() -> None:
    project = _fake_project(987_001)
    redis_client().delete(idle._busy_key(project))
    assert idle.busy_counts_as_use(project, AgentActivity(True, True, 41))
    assert idle.busy_counts_as_use(project, AgentActivity(True, True, 57))  # events flow
    # The same last event one idle period later: stuck, or a bridge that only says "busy".
    assert not idle.busy_counts_as_use(project, AgentActivity(True, True, 57))
    assert not idle.busy_counts_as_use(project, AgentActivity(True, False, 57))


def test_busy_bridge_counts_for_at_most_the_maximum_stretch(settings: object) -> None:
    project = _fake_project(987_002)
    redis_client().delete(idle._busy_key(project))
    settings.STARTER_MAX_BUSY_AWAKE_SECONDS = 1  # type: ignore[attr-defined]
    assert idle.busy_counts_as_use(project, AgentActivity(True, True, 1))
    time.sleep(1.2)
    assert not idle.busy_counts_as_use(project, AgentActivity(True, True, 2))
    redis_client().delete(idle._busy_key(project))


def test_silent_bridge_is_no_reason_to_stay_awake() -> None:
    project = _fake_project(987_003)
    assert not idle.busy_counts_as_use(project, AgentActivity(answered=False))


@pytest.mark.parametrize(
    "value",
    [None, 17, "", "tomorrow", "2026-13-40T00:00:00+00:00", "2026-12-01T10:00:00", "x" * 5000],
)
def test_garbage_job_times_are_ignored(value: object) -> None:
    assert parse_job_time(value, timezone.now()) is None


def test_job_time_far_future_is_ignored_and_past_is_due_now() -> None:
    now = timezone.now()
    assert parse_job_time((now + timedelta(days=4000)).isoformat(), now) is None
    overdue = parse_job_time((now - timedelta(days=3)).isoformat(), now)
    assert overdue == now
    due = now + timedelta(minutes=7)
    assert parse_job_time(due.isoformat(), now) == due


def test_program_following_the_event_stream_counts_as_a_viewer(
    project: Project, short_idle: LiveStack, owner: User
) -> None:
    import httpx

    token = create_api_token(owner, "idle")[1]
    url = f"{short_idle.url}/api/v1/projects/{project.public_id}/events"
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(timeout=httpx.Timeout(30.0)) as client,
        client.stream("GET", url, headers=headers) as stream,
    ):
        assert stream.status_code == 200
        wait_for(lambda: presence.has_viewers(project.public_id), timeout=10, message="presence")
        _age(project)
        lifecycle.sleep_if_idle(project.pk)
        assert _status(project) == Status.RUNNING
    wait_for(lambda: not presence.has_viewers(project.public_id), timeout=15, message="no one")


def _runs(project: Project) -> list[dict[str, object]]:
    answer = call_bridge(project, "GET", "/starter/services/tick/runs")
    return list(answer.body["runs"])


def test_cron_job_due_while_asleep_wakes_the_project_and_its_run_is_listed(
    project: Project,
) -> None:
    """Issue 15 acceptance 2 (the last part), end to end: a job every 5 s, the project put
    to sleep by the sleep step (which reads the job's next time from the bridge), beat's
    task wakes it through the wake task, and the bridge runs the missed job."""
    defined = call_bridge(
        project,
        "POST",
        "/starter/services",
        json_body={
            "name": "tick",
            "type": "cron",
            "schedule": "every 5s",
            "command": "date -u +%s >> ticks.txt",
        },
    )
    assert defined.status < 300, defined.body
    wait_for(lambda: len(_runs(project)) >= 1, timeout=30, message="a first run")
    lifecycle.sleep(project.pk)
    project.refresh_from_db()
    assert project.status == Status.SLEEPING
    assert project.next_job_at is not None
    assert project.next_job_at <= timezone.now() + timedelta(seconds=6)
    assert wake_projects_with_due_jobs() in (0, 1)  # maybe not due yet
    wait_for(lambda: wake_projects_with_due_jobs() == 1 or _status(project) != "sleeping", 15)
    wait_for_status(project, Status.RUNNING)
    wait_for(
        lambda: any(run.get("trigger") == "missed" for run in _runs(project)),
        timeout=30,
        message="the missed run, listed",
    )


# -- a hostile bridge, asked before sleeping ------------------------------------------------------


class _HostileBridge:
    """An HTTP server on the loopback that answers the probe's two routes as told."""

    def __init__(self, answers: dict[str, tuple[int, bytes, float]]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        table = answers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, drip = table.get(self.path, (404, b"{}", 0.0))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                if drip:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(drip)
                else:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _project_behind(bridge: _HostileBridge, owner: User, data_dir: object) -> Project:
    """A running project whose local Sprite's bridge is ``bridge``."""
    from pathlib import Path

    project = Project.objects.create(
        owner=owner, name="Hostile", status=Status.RUNNING, sprite_name="hostile-bridge"
    )
    run = Path(str(data_dir)) / "sprites" / "hostile-bridge" / "run"
    (run.parent / "home").mkdir(parents=True)
    run.mkdir()
    (run / "state").write_text("running")
    (run / "bridge.port").write_text(str(bridge.port))
    return project


@pytest.mark.parametrize(
    "services",
    [
        (200, b"x" * (2 * 1024 * 1024), 0.0),  # larger than any listing
        (200, b'{"services": "many"}', 0.0),
        (200, b'{"services": [{"type": "cron", "next_run_at": {"$date": 1}}, 7, null]}', 0.0),
        (500, b"<html>", 0.0),
        (200, b'{"services": []}' + b" " * 4000, 0.01),  # dripped, past the deadline
    ],
)
def test_hostile_services_answers_mean_no_job(
    services: tuple[int, bytes, float],
    alice: User,
    sprite_data_dir: object,
    settings: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from projects.bridge import probe

    monkeypatch.setattr(probe, "PROBE_DEADLINE_SECONDS", 1.0)
    settings.DATA_DIR = sprite_data_dir  # type: ignore[attr-defined]
    bridge = _HostileBridge({"/starter/services": services})
    try:
        project = _project_behind(bridge, alice, sprite_data_dir)
        started = time.monotonic()
        assert next_job_at(project) is None
        assert time.monotonic() - started < 8
    finally:
        bridge.close()


def test_bridge_that_says_busy_without_events_is_believed_once(
    alice: User, sprite_data_dir: object, settings: object
) -> None:
    settings.DATA_DIR = sprite_data_dir  # type: ignore[attr-defined]
    state = b'{"busy": true, "busy_sessions": ["s"], "last_event_id": 12}'
    bridge = _HostileBridge({"/starter/state": (200, state, 0.0)})
    try:
        project = _project_behind(bridge, alice, sprite_data_dir)
        redis_client().delete(idle._busy_key(project))
        activity = agent_activity(project)
        assert activity.busy and activity.last_event_id == 12
        assert idle.busy_counts_as_use(project, activity)
        assert not idle.busy_counts_as_use(project, agent_activity(project))
    finally:
        bridge.close()


def test_bridge_that_does_not_answer_is_not_busy(
    alice: User, sprite_data_dir: object, settings: object
) -> None:
    settings.DATA_DIR = sprite_data_dir  # type: ignore[attr-defined]
    bridge = _HostileBridge({})
    bridge.close()  # nothing listens on its port any more
    project = _project_behind(bridge, alice, sprite_data_dir)
    assert agent_activity(project) == AgentActivity(answered=False)
