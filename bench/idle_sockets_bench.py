"""Idle websockets (issue 13, acceptance 3): ``.venv/bin/python bench/idle_sockets_bench.py``.

A signed-in person's project page socket (``/ws/projects/<id>/``, subscribed) and home socket
(``/ws/home/``) are opened on a real web process and left idle:

- after ``--page-seconds`` (60) a lifecycle update is published to the project's group only
  (``projects.broadcast``'s group, as a sleep/wake publishes it), and the page socket must
  receive the lifecycle frame; the home socket stays untouched;
- after ``--home-minutes`` (10) the home socket must still be open, and a full
  ``broadcast_lifecycle`` must reach both sockets.

This is not a test because it takes ten minutes. It measures what fault 3 of the issue broke:
the channel layer's ``receive()`` raised ``TimeoutError`` after 5 s of quiet (redis-py's
default socket timeout), so an idle page missed lifecycle frames and ``/ws/home/`` closed with
1011 after ~6 s. The project is a database row left ``sleeping`` (no Sprite: the relay's
upstream waits for it to run, and the channel layer's reads are what idle).

Everything is throwaway: its own database, its own ``redis-server`` on a free port (the
channel layer's group names are not prefixed, so not the machine's Redis), its own data
directory; nothing of the developer's is touched. Writes ``bench/results/idle_sockets.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway import create_database, drop_database, throwaway_environment, use_django  # noqa: E402

RESULT = ROOT / "bench" / "results" / "idle_sockets.md"


def wait_for_web(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web process exited; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/accounts/login/", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the web process did not serve; see {log}")


def lifecycle_frames(frames: list[dict[str, Any]], public_id: str) -> list[dict[str, Any]]:
    return [
        f
        for f in frames
        if f.get("kind") == "lifecycle" and f.get("payload", {}).get("public_id") == public_id
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--page-seconds", type=float, default=60.0)
    parser.add_argument("--home-minutes", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    arguments = parser.parse_args()
    result = measure(arguments.page_seconds, arguments.home_minutes)
    print(json.dumps(result, indent=2))
    if not arguments.no_write:
        write_report(result)
    if not result["page_ok"] or not result["home_ok"]:
        sys.exit(1)


def measure(page_seconds: float, home_minutes: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="idle-sockets-bench-"))
    (work / "logs").mkdir()
    # The bench's own Redis (started below); the port is chosen before the settings load.
    from tests.support.live_stack import free_port, web_command

    redis_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env, database, admin_url = throwaway_environment(
        "idle-sockets",
        work,
        {
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
        },
    )
    create_database(admin_url, database)
    redis_server: subprocess.Popen[bytes] | None = None
    web: subprocess.Popen[bytes] | None = None
    failed = True
    try:
        with (work / "logs" / "redis.log").open("wb") as log:
            redis_server = subprocess.Popen(
                [
                    *("redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        use_django(env, database)
        from django.conf import settings

        assert settings.REDIS_URL == redis_url, "not the bench's Redis"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        web_log = work / "logs" / "web.log"
        with web_log.open("wb") as log:
            web = subprocess.Popen(
                web_command(port),
                cwd=ROOT,
                env={**env, "STARTER_SITE_URL": url},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_web(url, web, web_log)
        result = idle(url, page_seconds, home_minutes)
        result["web_log_errors"] = [
            line
            for line in web_log.read_text(errors="replace").splitlines()
            if "ERROR" in line or "Traceback" in line
        ][:10]
        failed = not (result["page_ok"] and result["home_ok"])  # keep the logs to look at
        return result
    finally:
        for process in (web, redis_server):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        drop_database(admin_url, database)
        if failed:
            print(f"kept {work} (logs/)", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def idle(url: str, page_seconds: float, home_minutes: float) -> dict[str, Any]:
    """Opens the page and home sockets, idles, publishes, and reports what arrived when."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from websockets.sync.client import connect

    from accounts.models import User
    from accounts.tokens import create_api_token
    from projects.broadcast import broadcast_lifecycle, lifecycle_payload, project_group
    from projects.models import Project, Status
    from tests.relay.viewer import Viewer

    owner = User.objects.create_user("idle-bench@example.com", "pw-long-enough-1")
    project = Project.objects.create(owner=owner, name="Idle bench", status=Status.SLEEPING)
    token = create_api_token(owner, "idle bench")[1]
    page = Viewer(url, project.public_id, token, None)
    # No client pings: the only traffic is what the server sends (daphne's own pings).
    home = connect(
        url.replace("http://", "ws://") + "/ws/home/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=10,
        ping_interval=None,
        legacy=True,  # held by this function, closed in its finally
    )
    opened = time.monotonic()
    result: dict[str, Any] = {"page_seconds": page_seconds, "home_minutes": home_minutes}
    try:
        time.sleep(1.0)  # the subscription is in (a sleeping project sends no relay state)
        page_frames_before = len(page.frames)

        time.sleep(max(0.0, opened + page_seconds - time.monotonic()))
        sent = time.monotonic()
        layer = get_channel_layer()
        async_to_sync(layer.group_send)(
            project_group(project.public_id),
            {"type": "lifecycle.update", "payload": lifecycle_payload(project)},
        )
        try:
            page.wait(
                lambda v: lifecycle_frames(v.frames, project.public_id) != [],
                timeout=15,
                what="a lifecycle frame",
            )
            arrived = next(
                at
                for at, frame in zip(page.arrivals, page.frames, strict=True)
                if lifecycle_frames([frame], project.public_id)
            )
            result["page_idle_s"] = round(sent - opened, 1)
            result["page_latency_s"] = round(arrived - sent, 3)
            result["page_ok"] = True
        except AssertionError as error:
            result["page_ok"] = False
            result["page_error"] = str(error)
        result["page_close_code_at_60s"] = page.close_code
        result["page_frames_while_idle"] = [f.get("kind") for f in page.frames[page_frames_before:]]

        time.sleep(max(0.0, opened + home_minutes * 60 - time.monotonic()))
        result["home_idle_s"] = round(time.monotonic() - opened, 1)
        result["home_open_after_idle"] = home.close_code is None
        page_lifecycles = len(lifecycle_frames(page.frames, project.public_id))
        sent = time.monotonic()
        broadcast_lifecycle(project)
        home_frames: list[dict[str, Any]] = []
        try:
            while True:
                home_frames.append(json.loads(home.recv(timeout=15)))
                if lifecycle_frames(home_frames[-1:], project.public_id):
                    result["home_latency_s"] = round(time.monotonic() - sent, 3)
                    break
            result["home_ok"] = result["home_open_after_idle"] and len(home_frames) == 1
        except Exception as error:  # closed or nothing within 15 s: the failure measured
            result["home_ok"] = False
            result["home_error"] = f"{type(error).__name__}: {error}"
        result["home_frames"] = [f.get("kind") for f in home_frames]
        result["home_close_code"] = home.close_code
        try:
            page.wait(
                lambda v: len(lifecycle_frames(v.frames, project.public_id)) > page_lifecycles,
                timeout=15,
                what="a second lifecycle frame",
            )
            result["page_ok_at_end"] = True
        except AssertionError:
            result["page_ok_at_end"] = False
        result["page_close_code_at_end"] = page.close_code
    finally:
        home.close()
        page.close()
    return result


def write_report(result: dict[str, Any]) -> None:
    load = os.getloadavg()

    def yes(value: object) -> str:
        return "yes" if value else "**NO**"

    page_idle = f"{result.get('page_idle_s', '-')} s"
    home_idle = f"{result.get('home_idle_s', '-')} s"
    rows = [
        (
            "page socket gets a lifecycle frame (published to the project's group only)",
            page_idle,
            yes(result["page_ok"]),
            f"{result.get('page_latency_s', '-')} s",
        ),
        ("`/ws/home/` still open", home_idle, yes(result.get("home_open_after_idle")), ""),
        (
            "`/ws/home/` gets the lifecycle frame (`broadcast_lifecycle`)",
            home_idle,
            yes(result["home_ok"]),
            f"{result.get('home_latency_s', '-')} s",
        ),
        ("page socket gets that frame too", home_idle, yes(result.get("page_ok_at_end")), ""),
    ]
    table = "\n".join(
        ["| check | idle for | result | publish → frame |", "|---|---|---|---|"]
        + [f"| {check} | {idle} | {ok} | {latency} |" for check, idle, ok, latency in rows]
    )
    text = f"""# Idle websockets (issue 13, acceptance 3)

Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `.venv/bin/python bench/idle_sockets_bench.py`
(`--home-minutes {result["home_minutes"]:g}`) on {platform.machine()}, {os.cpu_count()} CPUs,
load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other work ran beside
it), Python {platform.python_version()}.

One web process (`starter.web_server`, daphne) on a throwaway database and a `redis-server`
of the bench's own. A signed-in user's project page socket (`/ws/projects/<id>/`, subscribed
with `after: null`; the project is `sleeping`, so the relay's upstream waits) and home socket
(`/ws/home/`, no client pings) are opened and left idle.

{table}

Frames at the page socket between subscribing and the first publish:
{result["page_frames_while_idle"] or "none"}; frames at the home socket in all:
{result["home_frames"]} (the one lifecycle frame, nothing before it). Close codes at the end:
page {result.get("page_close_code_at_end")}, home {result.get("home_close_code")} (`None` =
open). ERROR lines in the web process's log: {len(result["web_log_errors"])}.

Before issue 13's fix (redis-py's 5 s default socket timeout under channels-redis's 5 s
blocking pop) the page missed every lifecycle frame after 5 s idle and `/ws/home/` closed
with 1011 after ~6 s; `starter/settings.py` now gives the layer's reads 15 s
(`REDIS_CONNECTION_OPTIONS`), and the home socket reads the layer in a supervised task.
"""
    RESULT.write_text(text)
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
