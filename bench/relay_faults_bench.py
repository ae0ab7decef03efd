"""Recovery times of the relay under faults: ``.venv/bin/python bench/relay_faults_bench.py``.

Runs the fault tests of tests/relay/test_relay_faults.py (real daphne processes, a Redis of
their own that is killed and restarted, real bridges, pi and the scripted model), ``--runs``
times, and collects what they measure: fault → first later event at every viewer, for a
viewer's socket reset, a SIGKILL of the web process holding the project's upstream (its own
viewers, which reconnect to the other process, and the longest gap between events at the
viewers on the other process), and Redis stopped for 2 s. Each run also checks, as the tests
do, that every viewer got every event of the bridge's log exactly once. Writes
``bench/results/relay_faults.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "relay_faults.md"
TESTS = [
    "tests/relay/test_relay_faults.py::test_a_reset_viewer_resumes_at_once_with_nothing_lost_or_repeated",
    "tests/relay/test_relay_faults.py::test_killing_the_web_process_that_holds_the_upstream_costs_no_event",
    "tests/relay/test_relay_faults.py::test_a_redis_restart_mid_stream_loses_and_repeats_nothing_and_says_so",
]
TARGETS = {
    "reset → first event on the new socket": "< 1 s",
    "its viewers: kill → first event": "< 2 s",
    "other process: longest gap": "≤ 0.5 s",
    "Redis back → first later event": "< 3 s",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        record = Path(scratch) / "record.jsonl"
        failed = 0
        for run in range(arguments.runs):
            print(f"run {run + 1} of {arguments.runs}", flush=True)
            completed = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
                cwd=ROOT,
                env={**os.environ, "RELAY_FAULTS_RECORD": str(record)},
                check=False,
            )
            failed += completed.returncode != 0
        lines = record.read_text().splitlines() if record.exists() else []
    figures: dict[tuple[str, str], list[float]] = defaultdict(list)
    for line in lines:
        item = json.loads(line)
        figures[(item["fault"], item["measure"])].extend(item["seconds"])
    write_report(figures, arguments.runs, failed)


def write_report(figures: dict[tuple[str, str], list[float]], runs: int, failed: int) -> None:
    rows = [
        "| fault | measured | target | samples | median | max |",
        "|---|---|---|---|---|---|",
    ]
    for (fault, measure), seconds in figures.items():
        ordered = sorted(seconds)
        median = ordered[len(ordered) // 2]
        rows.append(
            f"| {fault} | {measure} | {TARGETS.get(measure, '')} | {len(ordered)} "
            f"| {median:.2f} s | {ordered[-1]:.2f} s |"
        )
    load = os.getloadavg()
    text = f"""# Relay recovery under faults

Run on {datetime.now(UTC).date()} with `.venv/bin/python bench/relay_faults_bench.py --runs {runs}`
on {platform.machine()}, {os.cpu_count()} CPUs, load average at the end
{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other test suites were running beside it).
Runs whose tests failed: {failed} of {runs} (every run also asserts 0 events lost and 0
duplicated for every viewer against the bridge's log).

Each figure is fault → first later event at a viewer (one sample per viewer per run), except
the "longest gap": the longest time without an event at a viewer on the surviving web
process, from 0.5 s before the SIGKILL to 4 s after, while the bash loop prints a line every
0.03 s. The stream: pi's bash tool running `for i in $(seq 1 300); do echo l$i; sleep 0.03;
done` (about 420 events).

{chr(10).join(rows)}

How each recovers:

- **viewer reset**: the client reconnects with its last id; the consumer replays the rest
  from the bridge, then goes live.
- **holder killed**: Redis drops the dead process's subscription to its candidate's
  `alive` channel at once; a waiting candidate in the other process sees no subscriber,
  frees the lock and resumes the upstream from the relay cursor (poll every 0.2 s; the
  2 s lease, renewed every 0.5 s, bounds a hung holder). The killed process's viewers
  reconnect to the survivor with their last id.
- **Redis restart**: the feed's readers and the candidate fail, tell viewers
  `upstream_down`, retry with backoff (0.05 s doubling to 2 s, jittered), re-subscribe and
  re-join, and have every viewer catch up from the bridge after its last id.
"""
    RESULT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
