"""What the control plane keeps of a bridge's answers about services: the Sprite is
hostile, so every service, run and log line is rebuilt from known fields, cut and capped,
whatever the bridge sends."""

from __future__ import annotations

import json

import pytest

from bridge_agent.protocol import MAX_RUN_OUTPUT_CHARS, MAX_SERVICE_COMMAND_CHARS
from projects.bridge.services import (
    FOLLOW_MAX_PENDING_CHARS,
    MAX_LOG_LINE_CHARS,
    LogEventParser,
    clean_action,
    clean_line_count,
    clean_log_line,
    clean_run,
    clean_service,
    clean_service_name,
)
from projects.errors import ProjectError, status_of

GOOD = {
    "name": "web",
    "type": "app",
    "command": "python3 -m http.server 3000",
    "cwd": "site",
    "port": 3000,
    "schedule": None,
    "description": "The site",
    "desired": "running",
    "status": "running",
    "pid": 42,
    "restart_count": 2,
    "next_restart_at": None,
    "last_exit_code": None,
    "started_at": "2026-11-30T15:00:00Z",
    "next_run_at": None,
    "last_run": None,
}


def test_a_well_formed_service_is_kept_as_it_is() -> None:
    assert clean_service(GOOD) == GOOD


@pytest.mark.parametrize(
    "name", ["<script>", "Web", "-web", "a" * 41, "../x", "", None, 3, "web\n"]
)
def test_a_service_without_a_valid_name_is_dropped(name: object) -> None:
    assert clean_service({**GOOD, "name": name}) is None


def test_every_field_of_the_wrong_type_or_out_of_range_is_replaced() -> None:
    hostile = {
        **GOOD,
        "type": "<b>app</b>",
        "status": "pwned",
        "desired": {"x": 1},
        "port": 99999,
        "pid": -1,
        "restart_count": True,
        "command": "x" * (MAX_SERVICE_COMMAND_CHARS + 100),
        "description": ["not", "text"],
        "started_at": "<img src=x>",
        "next_restart_at": "2026-13-45T99:99:99Z",
        "last_exit_code": 10**9,
        "last_run": {"id": "1", "service": "web"},
        "extra": "<script>alert(1)</script>",
    }
    cleaned = clean_service(hostile)
    assert cleaned is not None
    assert cleaned["type"] == "worker" and cleaned["status"] == "error"
    assert cleaned["desired"] == "stopped"
    assert cleaned["port"] is None and cleaned["pid"] is None and cleaned["restart_count"] == 0
    assert len(cleaned["command"]) == MAX_SERVICE_COMMAND_CHARS
    assert cleaned["description"] == ""
    assert cleaned["started_at"] is None and cleaned["next_restart_at"] is None
    assert cleaned["last_exit_code"] is None and cleaned["last_run"] is None
    assert "extra" not in cleaned


def test_a_runs_output_is_cut_and_a_bad_trigger_is_replaced() -> None:
    run = clean_run(
        {
            "id": 7,
            "service": "nightly",
            "started_at": "2026-11-30T03:00:00Z",
            "ended_at": "2026-11-30T03:00:02Z",
            "exit_code": 3,
            "output": "y" * (MAX_RUN_OUTPUT_CHARS * 2),
            "trigger": "<script>",
        }
    )
    assert run is not None
    assert run["exit_code"] == 3 and run["trigger"] == "manual"
    assert len(run["output"]) == MAX_RUN_OUTPUT_CHARS


def test_log_lines_are_text_cut_and_without_control_characters() -> None:
    assert clean_log_line("<b>bold</b>\x1b[31mred\x1b[0m\x00") == "<b>bold</b>[31mred[0m"
    line = clean_log_line("z" * (MAX_LOG_LINE_CHARS * 3))
    assert line is not None and len(line) == MAX_LOG_LINE_CHARS
    assert clean_log_line({"line": "x"}) is None


def test_the_log_stream_parser_keeps_log_events_only() -> None:
    parser = LogEventParser()
    frames = (
        "retry: 2000\n\n: keep-alive\n\n"
        'event: log\ndata: {"line": "<script>alert(1)</script>"}\n\n'
        'event: other\ndata: {"line": "ignored"}\n\n'
        "event: log\ndata: not json\n\n"
        'event: log\r\ndata: {"line": "split'
    )
    assert parser.feed(frames) == ["<script>alert(1)</script>"]
    assert parser.feed(' across chunks"}\r') == []
    assert parser.feed('\n\r\nevent: log\ndata: {"line": "next"}\n\n') == [
        "split across chunks",
        "next",
    ]


def test_the_log_stream_parser_refuses_an_endless_event() -> None:
    parser = LogEventParser()
    with pytest.raises(ValueError, match="endless"):
        parser.feed("event: log\ndata: " + json.dumps({"line": "x" * FOLLOW_MAX_PENDING_CHARS}))
    parser = LogEventParser()
    with pytest.raises(ValueError, match="endless"):
        for _ in range(100):
            parser.feed("data: " + "y" * 1000 + "\n")


@pytest.mark.parametrize("name", ["../etc", "Web", "a/b", "", "x" * 41, "%2e%2e", "web\n"])
def test_a_name_that_is_no_service_name_is_a_404(name: str) -> None:
    with pytest.raises(ProjectError) as refused:
        clean_service_name(name)
    assert status_of(refused.value) == 404


def test_an_unknown_action_is_a_404_and_bad_line_counts_are_400() -> None:
    with pytest.raises(ProjectError) as refused:
        clean_action("explode")
    assert status_of(refused.value) == 404
    assert clean_line_count(None) == 200 and clean_line_count("50") == 50
    for bad in ("0", "1001", "many", "-5"):
        with pytest.raises(ProjectError) as too_many:
            clean_line_count(bad)
        assert status_of(too_many.value) == 400
