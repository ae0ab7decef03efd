"""Benchmark of the local Sprite backend: ``python bench/sprites_bench.py [--write]``.

Measures, in one run on this machine, with the real bridge and the real pi talking to the
scripted model server:
- create -> running (bridge healthy), per Sprite;
- wake from sleep -> bridge healthy, and wake from sleep -> first answer from pi;
- the cost of 20 sleeping and 5 running Sprites: processes, resident memory, disk.
``--write`` also saves the report to bench/results/sprites.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sprites.backends import processes  # noqa: E402
from sprites.backends.local import LocalBackend  # noqa: E402
from sprites.backends.sandbox import bubblewrap_path  # noqa: E402
from tests.support.model_server import ScriptedModelServer, pi_config_files  # noqa: E402

TOKEN = "bench-bridge-token"
RUNNING, SLEEPING, SAMPLES = 5, 20, 5


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_of(backend: LocalBackend, name: str) -> list[int]:
    pid_file = backend.sprite_dir(name) / "run" / "bridge.pid"
    if not pid_file.exists():
        return []
    return processes.process_tree(int(pid_file.read_text()))


async def first_answer(backend: LocalBackend, name: str) -> None:
    """Prompt the bridge and wait for pi's ``agent_end``."""
    endpoint = await backend.bridge_endpoint(name, TOKEN)
    headers = dict(endpoint.headers)
    async with httpx.AsyncClient(base_url=endpoint.base_url, timeout=60) as client:
        after = (await client.get("/starter/state", headers=headers)).json()["last_event_id"]
        async with client.stream(
            "GET", f"/starter/events?after={after}", headers=headers
        ) as stream:
            answer = await client.post(
                "/starter/prompt", json={"message": "[[reply: pong]]"}, headers=headers
            )
            answer.raise_for_status()
            async for line in stream.aiter_lines():
                if line.startswith("data:") and json.loads(line[5:])["type"] == "agent_end":
                    return


def median_ms(values: list[float]) -> str:
    low, high = min(values) * 1000, max(values) * 1000
    middle = statistics.median(values) * 1000
    return f"{middle:.0f} ms (min {low:.0f}, max {high:.0f}, n={len(values)})"


async def run(data_dir: Path, model_url: str) -> list[str]:
    model_port = int(model_url.split(":")[2].split("/")[0])
    # A sandboxed Sprite reaches this machine only on the ports it is given.
    backend = LocalBackend(data_dir, loopback_ports=[model_port])
    names = [f"bench-{index:02d}" for index in range(RUNNING + SLEEPING)]
    report: list[str] = []

    async def prepare(name: str) -> None:
        await backend.create(name)
        for path, content in pi_config_files(model_url).items():
            await backend.write_file(name, path, content)

    create_times = []
    for name in names[:SAMPLES]:
        started = time.monotonic()
        await prepare(name)
        await backend.bootstrap(name, TOKEN, {})
        create_times.append(time.monotonic() - started)

    wake_times, answer_times = [], []
    subject = names[0]
    await first_answer(backend, subject)  # pi's first run writes its caches; not measured
    for _ in range(SAMPLES):
        await backend.sleep(subject)
        started = time.monotonic()
        await backend.wake(subject)
        wake_times.append(time.monotonic() - started)
    for _ in range(SAMPLES):
        await backend.sleep(subject)
        started = time.monotonic()
        await backend.wake(subject)
        await first_answer(backend, subject)
        answer_times.append(time.monotonic() - started)

    for name in names[SAMPLES:]:
        await prepare(name)
        await backend.bootstrap(name, TOKEN, {})
        await backend.sleep(name)
    await asyncio.sleep(3)  # let every running bridge's pi settle (prewarmed at start)

    running_trees = {name: tree_of(backend, name) for name in names[:RUNNING]}
    sleeping_trees = {name: tree_of(backend, name) for name in names[RUNNING:]}
    pids = [pid for tree in running_trees.values() for pid in tree]
    rss_total = sum(rss_kib(pid) for pid in pids)
    du = subprocess.run(
        ["du", "-sk", str(backend.sprites_dir)], capture_output=True, text=True, check=True
    )
    disk_kib = int(du.stdout.split()[0])
    kinds: dict[str, int] = {}
    for pid in pids:
        command = Path(f"/proc/{pid}/comm").read_text().strip()
        kinds[command] = kinds.get(command, 0) + rss_kib(pid)

    report += [
        "| measure | result |",
        "|---|---|",
        f"| create → running (bridge healthy) | {median_ms(create_times)} |",
        f"| wake from sleep → bridge healthy | {median_ms(wake_times)} |",
        f"| wake from sleep → first pi answer | {median_ms(answer_times)} |",
        f"| {RUNNING} running Sprites: processes | {len(pids)} ({len(pids) / RUNNING:.1f} each) |",
        f"| {RUNNING} running Sprites: resident memory | {rss_total / 1024:.0f} MiB "
        f"({rss_total / 1024 / RUNNING:.0f} MiB each) |",
        f"| {SLEEPING} sleeping Sprites: processes / memory | "
        f"{sum(len(t) for t in sleeping_trees.values())} / 0 MiB |",
        f"| {RUNNING + SLEEPING} Sprites on disk (homes, pi config, logs, event DBs) | "
        f"{disk_kib / 1024:.1f} MiB ({disk_kib / (RUNNING + SLEEPING):.0f} KiB each) |",
        "",
        "Resident memory of the running Sprites by process name (MiB): "
        + ", ".join(f"{name} {kib / 1024:.0f}" for name, kib in sorted(kinds.items())),
    ]
    for name in names:
        await backend.destroy(name)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="save bench/results/sprites.md")
    args = parser.parse_args()
    with ScriptedModelServer() as model, tempfile.TemporaryDirectory(prefix="sprites-bench-") as d:
        Path(d).chmod(0o711)  # strict Sprites' uids pass through it to their homes
        report = asyncio.run(run(Path(d), model.base_url))
    header = [
        "# Local Sprite backend benchmark",
        "",
        f"Run on {date.today()} by `python bench/sprites_bench.py --write`; {platform.machine()},"
        f" Python {platform.python_version()}, sandbox: strict isolation"
        f"{'' if bubblewrap_path() else ' (bubblewrap missing)'}; real bridge and pi against the"
        " scripted model server (so model latency is ~0).",
        "",
    ]
    text = "\n".join(header + report) + "\n"
    print(text)
    if args.write:
        (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
        (ROOT / "bench" / "results" / "sprites.md").write_text(text)


if __name__ == "__main__":
    main()
