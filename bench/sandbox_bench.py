"""What the strict sandbox costs: ``python bench/sandbox_bench.py [--write]``.

Side by side in one run, alternating, on this machine with the real bridge: a local Sprite
in ``strict`` isolation (own uid, namespaces, seccomp, network through pasta) and in the
``single-user`` development mode (bubblewrap over a shared network):
- create + bootstrap -> bridge healthy;
- sleep -> wake -> bridge healthy;
- sleep -> wake -> first answer from pi (the scripted model server, so model time is ~0);
- one request to the bridge (``GET /starter/state``: the hop between the control plane and
  the Sprite that every relayed event, API call and preview takes, through pasta's port);
- one ``exec`` of ``true`` (through the bridge, inside the sandbox).
Ratios are strict / single-user. ``--write`` saves the report to bench/results/sandbox.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sprites_bench import TOKEN, first_answer  # noqa: E402
from sprites.backends.local import LocalBackend  # noqa: E402
from tests.support.model_server import ScriptedModelServer, pi_config_files  # noqa: E402

MODES = ("strict", "single-user")


async def measure(
    backend: LocalBackend, name: str, requests: int, model_url: str
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    started = time.perf_counter()
    await backend.create(name)
    for path, content in pi_config_files(model_url).items():
        await backend.write_file(name, path, content)
    await backend.bootstrap(name, TOKEN, {})
    times["create -> healthy (ms)"] = [(time.perf_counter() - started) * 1000]
    await backend.sleep(name)
    started = time.perf_counter()
    await backend.wake(name)
    times["wake -> healthy (ms)"] = [(time.perf_counter() - started) * 1000]
    await first_answer(backend, name)  # pi's first run writes its caches; not measured
    await backend.sleep(name)
    started = time.perf_counter()
    await backend.wake(name)
    await first_answer(backend, name)
    times["wake -> first answer (ms)"] = [(time.perf_counter() - started) * 1000]
    endpoint = await backend.bridge_endpoint(name, TOKEN)
    latencies = []
    async with httpx.AsyncClient(base_url=endpoint.base_url, headers=endpoint.headers) as client:
        await client.get("/starter/state")
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.get("/starter/state")
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    times["bridge request (ms)"] = latencies
    execs = []
    for _ in range(10):
        started = time.perf_counter()
        await backend.exec(name, ["true"], timeout=30)
        execs.append((time.perf_counter() - started) * 1000)
    times["exec true (ms)"] = execs
    await backend.destroy(name)
    return times


async def run(samples: int, requests: int) -> list[str]:
    results: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    with (
        ScriptedModelServer() as model,
        tempfile.TemporaryDirectory(prefix="sandbox-bench-") as directory,
    ):
        Path(directory).chmod(0o711)  # strict Sprites' uids pass through it to their homes
        backends = {
            mode: LocalBackend(
                Path(directory) / mode,
                isolation=mode,
                bridge_arguments=["--no-prewarm"],
                loopback_ports=[model.port],
            )
            for mode in MODES
        }
        for sample in range(samples):
            for mode in MODES if sample % 2 == 0 else reversed(MODES):
                for key, values in (
                    await measure(backends[mode], f"b{sample}", requests, model.base_url)
                ).items():
                    results[mode].setdefault(key, []).extend(values)
    lines = [
        f"# Sandbox cost, {date.today().isoformat()}",
        "",
        f"{samples} Sprites per mode, alternating; {requests} bridge requests and 10 execs each.",
        "",
        "| measure | strict p50 | single-user p50 | ratio p50 | strict p99 | single-user p99 |",
        "|---|---|---|---|---|---|",
    ]
    for key in results["strict"]:
        strict, plain = results["strict"][key], results["single-user"][key]
        p50s, p50p = statistics.median(strict), statistics.median(plain)
        p99s = statistics.quantiles(strict, n=100)[98] if len(strict) > 1 else strict[0]
        p99p = statistics.quantiles(plain, n=100)[98] if len(plain) > 1 else plain[0]
        lines.append(
            f"| {key} | {p50s:.1f} | {p50p:.1f} | {p50s / p50p:.2f} | {p99s:.1f} | {p99p:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--write", action="store_true")
    arguments = parser.parse_args()
    report = "\n".join(asyncio.run(run(arguments.samples, arguments.requests))) + "\n"
    print(report)
    if arguments.write:
        (ROOT / "bench" / "results" / "sandbox.md").write_text(report)


if __name__ == "__main__":
    main()
