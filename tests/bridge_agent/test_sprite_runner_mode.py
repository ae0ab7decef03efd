"""The bridge in the ``sprite`` runner mode (fly): a long-running service is recorded and
reported but never spawned (the Sprite runs it as a Sprite service); a cron job still runs
in the bridge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge_agent.protocol import SERVICE_RUNNER_SPRITE, SERVICE_RUNNER_VARIABLE
from tests.support.bridge_process import BridgeProcess


@pytest.fixture
def sprite_mode_bridge(tmp_path: Path) -> Iterator[BridgeProcess]:
    home = tmp_path / "home"
    home.mkdir()
    bridge = BridgeProcess(home, env={SERVICE_RUNNER_VARIABLE: SERVICE_RUNNER_SPRITE}).start()
    try:
        yield bridge
    finally:
        bridge.stop()


def test_a_long_running_service_is_recorded_not_spawned(
    sprite_mode_bridge: BridgeProcess,
) -> None:
    home = sprite_mode_bridge.home
    with sprite_mode_bridge.client() as client:
        defined = client.post(
            "/starter/services",
            json={"name": "web", "type": "worker", "command": "touch spawned; exec sleep 600"},
        )
        assert defined.status_code in (200, 201), defined.text
        time.sleep(1.5)
        assert not (home / "spawned").exists()
        listed = {s["name"]: s for s in client.get("/starter/services").json()["services"]}
        assert listed["web"]["desired"] == "running" and listed["web"]["pid"] is None
        log = client.get("/starter/services/web/logs", params={"lines": "5"}).json()["lines"]
        assert any("Sprite service" in line for line in log)
        # Stop and start are recorded as wishes (the control plane applies them).
        assert client.post("/starter/services/web/stop").status_code == 200
        stopped = {s["name"]: s for s in client.get("/starter/services").json()["services"]}
        assert stopped["web"]["desired"] == "stopped"
        assert not (home / "spawned").exists()


def test_a_cron_job_still_runs_in_the_bridge(sprite_mode_bridge: BridgeProcess) -> None:
    with sprite_mode_bridge.client() as client:
        defined = client.post(
            "/starter/services",
            json={
                "name": "job",
                "type": "cron",
                "command": "echo ran-here; touch cron-ran",
                "schedule": "0 3 * * *",
            },
        )
        assert defined.status_code in (200, 201), defined.text
        assert client.post("/starter/services/job/run").is_success
        deadline = time.monotonic() + 15
        while not (sprite_mode_bridge.home / "cron-ran").exists():
            assert time.monotonic() < deadline, "the cron job did not run in the bridge"
            time.sleep(0.1)
