"""inspect.db's ``service_runs``: a job keeps its newest runs, its output's end, and nothing
of the other jobs is touched."""

from __future__ import annotations

from pathlib import Path

from bridge_agent.inspect_db import ensure_inspect_db
from bridge_agent.protocol import MAX_RUN_OUTPUT_CHARS
from bridge_agent.services import store


def test_a_job_keeps_its_newest_runs_only(tmp_path: Path) -> None:
    path = tmp_path / "inspect.db"
    ensure_inspect_db(path)
    other = store.start_run(path, "other", "2026-01-01T00:00:00Z", "schedule")
    for number in range(store.RUNS_KEPT + 10):
        run_id = store.start_run(path, "job", f"2026-01-01T00:00:{number:02d}Z", "schedule")
        store.end_run(path, run_id, f"2026-01-01T00:01:{number:02d}Z", number % 2, f"run {number}")
    runs = store.list_runs(path, "job", limit=1000)
    assert len(runs) == store.RUNS_KEPT
    assert runs[0]["output"] == f"run {store.RUNS_KEPT + 9}" and runs[0]["exit_code"] == 1
    assert runs[-1]["output"] == "run 10"
    assert [run["id"] for run in store.list_runs(path, "other")] == [other]


def test_a_run_keeps_the_end_of_its_output(tmp_path: Path) -> None:
    path = tmp_path / "inspect.db"
    run_id = store.start_run(path, "job", "2026-01-01T00:00:00Z", "manual")
    store.end_run(path, run_id, "2026-01-01T00:00:01Z", 0, "a" * MAX_RUN_OUTPUT_CHARS + "the end")
    (run,) = store.list_runs(path, "job")
    assert len(run["output"]) == MAX_RUN_OUTPUT_CHARS and run["output"].endswith("the end")
    assert run["trigger"] == "manual"


def test_a_replaced_inspect_db_gets_the_table_again(tmp_path: Path) -> None:
    path = tmp_path / "inspect.db"
    store.start_run(path, "job", "2026-01-01T00:00:00Z", "schedule")
    path.unlink()  # a checkpoint restore, or the agent starting over
    assert store.list_runs(path, "job") == []
    store.start_run(path, "job", "2026-01-01T00:00:05Z", "schedule")
    assert len(store.list_runs(path, "job")) == 1
