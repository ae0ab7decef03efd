"""What a service definition may be: names, working directories, ports, commands, schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge_agent.protocol import MAX_SERVICE_COMMAND_CHARS
from bridge_agent.services.schedule import ScheduleError, parse_schedule
from bridge_agent.services.spec import SpecError, parse_spec

BRIDGE_PORT = 8080
NOW = datetime(2026, 11, 30, 15, 22, 10, tzinfo=UTC)


def spec(home: Path, **fields: object) -> object:
    return parse_spec({"name": "web", "command": "true", **fields}, home, BRIDGE_PORT)


@pytest.mark.parametrize("name", ["../x", "x/../y", "Web", "-web", "", "a" * 41, "web\n", "we b"])
def test_names_outside_the_pattern_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SpecError, match="'name' must be"):
        spec(tmp_path, name=name)


@pytest.mark.parametrize("cwd", ["..", "../..", "/etc", "/", "sub/../../x"])
def test_a_cwd_outside_the_home_is_refused(tmp_path: Path, cwd: str) -> None:
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    with pytest.raises(SpecError, match="inside the project's home"):
        spec(home, cwd=cwd)


def test_a_symlink_in_the_home_pointing_out_of_it_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "escape").symlink_to("/")
    with pytest.raises(SpecError, match="inside the project's home"):
        spec(home, cwd="escape")
    with pytest.raises(SpecError, match="inside the project's home"):
        spec(home, cwd="escape/etc")


def test_a_cwd_is_kept_relative_to_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "app" / "server").mkdir(parents=True)
    assert spec(home, cwd="app/server").cwd == "app/server"  # type: ignore[attr-defined]
    assert spec(home, cwd=str(home / "app")).cwd == "app"  # type: ignore[attr-defined]
    assert spec(home).cwd == ""  # type: ignore[attr-defined]
    with pytest.raises(SpecError, match="not a directory"):
        spec(home, cwd="missing")


@pytest.mark.parametrize("port", [BRIDGE_PORT, 80, 1023, 65536, -1, "3000", True, 3000.5])
def test_ports_outside_the_range_or_the_bridges_own_are_refused(
    tmp_path: Path, port: object
) -> None:
    with pytest.raises(SpecError, match=r"[Pp]ort"):
        spec(tmp_path, port=port, type="app")


def test_only_http_services_have_a_port_and_only_cron_jobs_a_schedule(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="Only an 'app' or 'api'"):
        spec(tmp_path, port=3000, type="worker")
    with pytest.raises(SpecError, match="Only a cron job"):
        spec(tmp_path, schedule="every 5m", type="worker")
    with pytest.raises(SpecError, match="needs a 'schedule'"):
        spec(tmp_path, type="cron")
    assert spec(tmp_path, port=3000).type == "app"  # type: ignore[attr-defined]
    assert spec(tmp_path, schedule="every 5m").type == "cron"  # type: ignore[attr-defined]
    assert spec(tmp_path).type == "worker"  # type: ignore[attr-defined]


def test_a_huge_command_and_unknown_fields_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="at most"):
        spec(tmp_path, command="x" * (MAX_SERVICE_COMMAND_CHARS + 1))
    with pytest.raises(SpecError, match="'command' is required"):
        spec(tmp_path, command="  ")
    with pytest.raises(SpecError, match="Unknown field"):
        spec(tmp_path, env={"A": "b"})


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("every 5s", datetime(2026, 11, 30, 15, 22, 15, tzinfo=UTC)),
        ("* * * * *", datetime(2026, 11, 30, 15, 23, tzinfo=UTC)),  # every minute
        ("every 10 minutes", datetime(2026, 11, 30, 15, 32, 10, tzinfo=UTC)),
        ("every 1h", datetime(2026, 11, 30, 16, 22, 10, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 11, 30, 15, 30, tzinfo=UTC)),
        ("0 9 * * mon-fri", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("30 2 1 * *", datetime(2026, 12, 1, 2, 30, tzinfo=UTC)),
        ("0 0 * * 0", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),  # Sunday
        ("0 0 * * 7", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),  # Sunday too
        ("0 0 13 * 5", datetime(2026, 12, 4, 0, 0, tzinfo=UTC)),  # the 13th or a Friday
        ("@daily", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
    ],
)
def test_schedules_come_due_when_cron_says(text: str, due: datetime) -> None:
    assert parse_schedule(text).next_after(NOW) == due


@pytest.mark.parametrize(
    "text", ["every 4s", "every 0m", "* * * *", "61 * * * *", "* * * * 8", "*/0 * * * *", "hourly"]
)
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(text)


def test_a_schedule_that_never_comes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="never comes due"):
        spec(tmp_path, schedule="0 0 31 2 *")
