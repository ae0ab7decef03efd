"""Benchmark of recovery from a crashed bridge: ``.venv/bin/python bench/bridge_faults_bench.py``.

Measures, on this machine, and writes ``bench/results/bridge_faults.md``:

- **bridge SIGKILL mid-run** (the bridge's Python process; its keeper lives): kill → the
  bridge answers its health check again; kill → the interrupted run's ``agent_end`` at a
  websocket viewer (the first event written after the kill, so also "kill → first later
  event", and the moment the page stops showing "Working…"); events lost and duplicated
  at the viewer against the bridge's whole log.
- **Sprite tree SIGKILL** (keeper and bridge, the case beat's supervisor covers): the
  supervisor's pass run at once (as if beat came right then) → the first event written by
  the restarted bridge at the viewer; the pass's own duration.

What runs, all real: the product's web process and a Celery worker (``tests/support/
live_stack.py``) on a throwaway database, Redis key prefix and task queue of their own; one
project on the local backend (strict sandbox when this machine allows it) with real pi
talking to the scripted model server (``[[slow: 300]]``: 30 s of deltas, cut by the kill);
a websocket viewer (``tests/relay/viewer.py``) subscribed from the start of the log.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge_agent.keeper import HEALTHY_AFTER  # noqa: E402 (after the path is set)

RESULT = ROOT / "bench" / "results" / "bridge_faults.md"
BUDGET = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Predicate = Callable[[Any], bool]


def streaming(start: int) -> Predicate:
    return lambda v: sum(e["type"] == "message_update" for e in v.events[start:]) >= 10


def interrupted(start: int) -> Predicate:
    return lambda v: any(
        e["type"] == "agent_end" and e["data"].get("interrupted") for e in v.events[start:]
    )


def newer_than(start: int, last: int) -> Predicate:
    return lambda v: any(e["id"] > last for e in v.events[start:])


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"{statistics.median(values):.2f} / {max(values):.2f}"
        f" ({', '.join(f'{v:.2f}' for v in values)})"
    )


def main(rounds: int, tree_rounds: int, write: bool) -> None:
    from tests.support.model_server import ScriptedModelServer

    suffix = os.getpid()
    model = ScriptedModelServer(port=free_port())
    model.__enter__()
    os.environ.update(
        {
            "STARTER_SPRITE_LOOPBACK_PORTS": str(model.port),
            "STARTER_REDIS_PREFIX": f"bench-faults-{suffix}",
            "CELERY_TASK_DEFAULT_QUEUE": f"bench-faults-{suffix}",
            "DJANGO_SETTINGS_MODULE": "starter.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    base_url = settings.DATABASE_URL
    database = f"bench_faults_{suffix}"
    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    settings.DATABASES["default"]["NAME"] = database
    data_dir = Path(tempfile.mkdtemp(prefix="bridge-faults-bench-"))
    settings.DATA_DIR = data_dir
    load_at_start = os.getloadavg()
    stack = None
    try:
        call_command("migrate", verbosity=0)
        from tests.support.live_stack import destroy_local_sprites, start_live_stack

        stack = start_live_stack(database, data_dir)
        results = conduct(stack, model.base_url, rounds, tree_rounds)
    finally:
        if stack is not None:
            stack.stop()
            with contextlib.suppress(Exception):
                destroy_local_sprites(data_dir)
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        model.__exit__(None, None, None)
    report = render(results, load_at_start)
    print(report)
    if write:
        RESULT.write_text(report)


def conduct(stack: Any, model_url: str, rounds: int, tree_rounds: int) -> dict[str, Any]:
    from accounts.models import User
    from accounts.tokens import create_api_token
    from projects.actions import create_project
    from projects.models import Status
    from projects.tasks import supervise_local_sprites
    from sprites.backends import processes
    from tests.e2e.helpers import use_scripted_model, wait_for_status
    from tests.relay.bridge_truth import (
        bridge_events,
        bridge_port,
        bridge_python_pid,
        endpoint_for,
        prompt,
        refuses_connections,
        sprite_pid,
        upstream_connects,
    )
    from tests.relay.viewer import Viewer

    user = User.objects.create_user(f"bench-{os.getpid()}@example.com", "pw-long-enough-1")
    use_scripted_model(user, model_url)
    token = create_api_token(user, "bench")[1]
    project = create_project(user, "Bridge faults")
    wait_for_status(project, Status.RUNNING)
    project.refresh_from_db()
    viewer = Viewer(stack.url, project.public_id, token, 0)
    # A finished first answer: pi writes the session file, so restarts resume the session.
    prompt(project, "[[reply: warm up]]")
    viewer.wait_event("agent_end")
    results: dict[str, Any] = {
        "healthy": [],
        "ended": [],
        "tree_first": [],
        "tree_connected": [],
        "supervise": [],
    }

    restarted = time.monotonic()
    for _ in range(rounds):
        # Each round is one isolated fault: the bridge has run long enough to count as
        # healthy, so the keeper restarts it at once (a bridge that keeps dying within
        # HEALTHY_AFTER seconds is restarted with growing delays instead).
        time.sleep(max(0.0, restarted + HEALTHY_AFTER + 0.5 - time.monotonic()))
        start = len(viewer.events)
        prompt(project, "[[slow: 300]]")
        viewer.wait(streaming(start), what="the reply to be streaming")
        endpoint = endpoint_for(project)
        healthy: list[float] = []
        pid = bridge_python_pid(project)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        def probe(
            killed: float = killed, url: str = endpoint.base_url, into: list[float] = healthy
        ) -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url + "/starter/health", timeout=10)
                into.append(time.monotonic() - killed)

        prober = threading.Thread(target=probe)
        prober.start()
        viewer.wait(
            interrupted(start),
            timeout=30,
            what="the interrupted end",
        )
        results["ended"].append(time.monotonic() - killed)
        prober.join()
        results["healthy"].extend(healthy)
        restarted = killed + (healthy[0] if healthy else 0.0)

    for _ in range(tree_rounds):
        start = len(viewer.events)
        last = bridge_events(project)[-1]["id"]
        connects = upstream_connects(project)
        port = bridge_port(project)
        for pid in processes.process_tree(sprite_pid(project)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while not refuses_connections(port):
            time.sleep(0.02)
        time.sleep(2.0)  # the relay's upstream is in its backoff by now
        began = time.monotonic()
        assert supervise_local_sprites() == [project.sprite_name]
        passed = time.monotonic()
        results["supervise"].append(passed - began)
        while upstream_connects(project) <= connects:
            assert time.monotonic() - passed < 30, "the relay did not reconnect"
            time.sleep(0.01)
        results["tree_connected"].append(time.monotonic() - passed)
        viewer.wait(
            newer_than(start, last),
            timeout=30,
            what="an event from the restarted bridge",
        )
        results["tree_first"].append(time.monotonic() - began)
        time.sleep(0.5)

    log = bridge_events(project)
    viewer.wait(lambda v: v.ids[-1:] == [log[-1]["id"]], timeout=10, what="the viewer level")
    ids = viewer.ids
    known = {e["id"] for e in log}
    results["lost"] = len(known - set(ids))
    results["duplicated"] = len(ids) - len(set(ids))
    results["events"] = len(log)
    results["identical"] = viewer.events == log
    results["rounds"] = rounds
    results["tree_rounds"] = tree_rounds
    viewer.close()
    return results


def render(results: dict[str, Any], load: tuple[float, ...]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    isolation = os.environ.get("STARTER_SPRITE_ISOLATION", "strict")
    ended_max = max(results["ended"]) if results["ended"] else float("inf")
    lines = [
        "# Bridge faults benchmark",
        "",
        f"Run on {now}: `.venv/bin/python bench/bridge_faults_bench.py` — {platform.machine()},"
        f" {os.cpu_count()} CPUs (shared with other work while it ran; load average at the"
        f" start {' '.join(f'{x:.2f}' for x in load)}), Python {platform.python_version()},"
        f" Sprite isolation {isolation}.",
        "",
        "One project on the live stack (web process, Celery worker, Redis, PostgreSQL), real",
        "pi and the scripted model (`[[slow: 300]]`, cut by the kill), one websocket viewer",
        "subscribed from the start of the log. Seconds; median / max (every round).",
        "",
        "| fault | measured | seconds |",
        "|---|---|---|",
        f"| bridge SIGKILL mid-run x{results['rounds']} | kill → bridge healthy again"
        f" | {summary(results['healthy'])} |",
        f"| | kill → interrupted `agent_end` at the viewer (first event after the kill; the"
        f" page stops showing “Working…”) | {summary(results['ended'])} |",
        f"| keeper and bridge SIGKILL x{results['tree_rounds']} | supervisor pass (restart)"
        f" | {summary(results['supervise'])} |",
        f"| | pass ends → the relay reconnected (its upstream stream to the bridge open again)"
        f" | {summary(results['tree_connected'])} |",
        f"| | pass begins → first event of the restarted bridge at the viewer (its"
        f" `session_started`, after pi started) | {summary(results['tree_first'])} |",
        "",
        f"Viewer against the bridge's log after every round: {results['events']} events,"
        f" {results['lost']} lost, {results['duplicated']} duplicated, identical:"
        f" {results['identical']}.",
        "",
        "| target (issue #13, acceptance 2) | measured | |",
        "|---|---|---|",
        f"| bridge kill → first later event at the viewer < {BUDGET:.0f} s, and the page shows"
        f" the interrupted run as ended within {BUDGET:.0f} s | max {ended_max:.2f} s"
        f" | {'met' if ended_max < BUDGET else 'NOT met'} |",
        "",
        "Each bridge kill comes after the bridge has run for the keeper's",
        f"`HEALTHY_AFTER` ({HEALTHY_AFTER:.0f} s), so every round is one isolated fault; a",
        "bridge that keeps dying sooner is restarted after growing delays (0.05, 0.5, 1, 2,",
        "5, 10, 30 s: tests/bridge_agent/test_bridge_keeper.py). Beat's pass comes every",
        "15 s, so a dead keeper (the rare case: it does nothing but wait on the bridge)",
        "waits up to 15 s plus the figures above; a dead bridge does not wait for beat.",
        "",
    ]
    if results["tree_connected"] and max(results["tree_connected"]) > 0.5:
        lines += [
            "The supervisor's wake-up (`lifecycle.update` on the project's group) reaches the",
            "relay through the channel layer. Where that layer's receive dies after 5 s idle",
            "(issue #13 fault 3, fixed in its own slice) the wake-up is lost and the relay",
            "reconnects on its next backoff tick instead (0.2-5 s), as in this run;",
            "tests/relay/test_relay_bridge_crash.py shows < 1 s with a live channel layer.",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree-rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    arguments = parser.parse_args()
    main(arguments.rounds, arguments.tree_rounds, not arguments.no_write)
