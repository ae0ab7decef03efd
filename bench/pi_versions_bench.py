"""pi start-up and idle memory, the pinned pi against the one it replaced:
``python bench/pi_versions_bench.py [--runs 7] [--write]``.

Compared, with the bridge's own launch (``PiLaunch``: ``--mode rpc --session-dir …
--no-extensions -e starter-extension.ts``, the bridge's environment and compile cache) and
the scripted model server's config:

- **new**: the project's pinned pi (``@earendil-works/pi-coding-agent``, package.json) on the
  project's pinned Node 22 (``node_modules/.bin/node``), with a warm Node compile cache (the
  bridge keeps one in the home, so every start after the first is warm);
- **old**: ``@mariozechner/pi-coding-agent`` 0.73.1 on the system's Node (20 on this
  machine), installed only for this benchmark into ``var/bench/pi-0.73.1`` (``npm install
  --prefix``; the project's node_modules are not touched);
- **new, cold**: the new one with an empty compile cache (a Sprite's first start).

Per run: spawn → the answer to ``get_state`` (the bridge's ready signal), the CPU seconds
pi used until then (``/proc/<pid>/stat``, all threads), and VmRSS / VmHWM 2 s after ready.
Runs are interleaved (new, old, new cold, new, old, …) so all see the same machine load;
one unmeasured start of each first. ``--write`` saves bench/results/pi_versions.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge_agent.config import EXTENSION_PATH  # noqa: E402
from bridge_agent.pi_process import PiLaunch  # noqa: E402
from tests.support.model_server import ScriptedModelServer, write_pi_config  # noqa: E402

OLD_PACKAGE, OLD_VERSION = "@mariozechner/pi-coding-agent", "0.73.1"
OLD_PREFIX = ROOT / "var" / "bench" / f"pi-{OLD_VERSION}"
IDLE_WAIT = 2.0
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Config:
    label: str
    node: str
    pi: str
    cold_cache: bool = False
    ready: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    hwm: list[float] = field(default_factory=list)
    stderr: set[str] = field(default_factory=set)

    def version(self) -> str:
        done = subprocess.run(
            [self.node, self.pi, "--version"], capture_output=True, text=True, timeout=60
        )
        # pi 1.x prints its version on stdout, 0.x on stderr.
        return (done.stdout.strip() or done.stderr.strip()).splitlines()[-1]

    def node_version(self) -> str:
        return subprocess.run(
            [self.node, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()


def install_old_pi() -> Path:
    """0.73.1 in its own folder under var/bench (a few seconds, once)."""
    pi = OLD_PREFIX / "node_modules" / ".bin" / "pi"
    if not pi.exists():
        OLD_PREFIX.mkdir(parents=True, exist_ok=True)
        print(f"installing {OLD_PACKAGE}@{OLD_VERSION} into {OLD_PREFIX}", file=sys.stderr)
        subprocess.run(
            ["npm", "install", "--prefix", str(OLD_PREFIX), "--no-audit", "--no-fund",
             "--loglevel=error", f"{OLD_PACKAGE}@{OLD_VERSION}"],
            check=True,
        )  # fmt: skip
    return pi


def proc_status(pid: int) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # MiB
    return values


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime + stime of every thread, + cutime + cstime of reaped children (pi has none by then)
    return sum(int(value) for value in fields[11:15]) / TICKS


def start_once(config: Config, home: Path, cache: Path, run: int) -> tuple[float, float, dict]:
    launch = PiLaunch(
        binary=config.pi,
        home=home,
        agent_dir=home / ".pi" / "agent",
        session_dir=home / ".pi" / f"sessions-{run}",
        extension=EXTENSION_PATH,
        env=dict(os.environ),
        node=config.node,
        compile_cache=cache,
    )
    request = b'{"type":"get_state","id":"ready"}\n'
    started = time.perf_counter()
    process = subprocess.Popen(
        launch.argv(),
        cwd=home,
        env=launch.environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(request)
    process.stdin.flush()
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"{config.label}: pi exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        answer = json.loads(line)
        if answer.get("type") == "response" and answer.get("id") == "ready":
            break
    ready = time.perf_counter() - started
    cpu = cpu_seconds(process.pid)
    time.sleep(IDLE_WAIT)
    memory = proc_status(process.pid)
    _, stderr = process.communicate(timeout=30)  # closes stdin: pi exits on EOF
    for text in stderr.decode(errors="replace").splitlines():
        if text.strip():
            config.stderr.add(text.strip()[:200])
    return ready, cpu, memory


def median(values: list[float]) -> float:
    return statistics.median(values)


def run(runs: int) -> str:
    old_pi = install_old_pi()
    system_node = shutil.which("node", path="/usr/local/bin:/usr/bin:/bin")
    if system_node is None:
        raise SystemExit("no system node for the old pi")
    project_node = str(ROOT / "node_modules" / ".bin" / "node")
    project_pi = str(ROOT / "node_modules" / ".bin" / "pi")
    new = Config("new", project_node, project_pi)
    old = Config("old", system_node, str(old_pi))
    cold = Config("new, cold compile cache", project_node, project_pi, cold_cache=True)
    configs = [new, old, cold]
    load_before = os.getloadavg()
    with ScriptedModelServer() as model, tempfile.TemporaryDirectory(prefix="pi-bench-") as d:
        homes = {}
        for index, config in enumerate(configs):
            home = Path(d) / f"home-{index}"
            write_pi_config(home, model.base_url)
            homes[config.label] = home
            start_once(config, home, home / ".starter" / "node-compile-cache", -1)  # warm-up
        for number in range(runs):
            for config in configs:
                home = homes[config.label]
                cache = home / ".starter" / "node-compile-cache"
                if config.cold_cache:
                    cache = Path(d) / f"cold-cache-{number}"
                ready, cpu, memory = start_once(config, home, cache, number)
                config.ready.append(ready)
                config.cpu.append(cpu)
                config.rss.append(memory["VmRSS"])
                config.hwm.append(memory["VmHWM"])
                print(
                    f"run {number + 1} {config.label}: ready {ready:.3f} s, cpu {cpu:.2f} s,"
                    f" rss {memory['VmRSS']:.1f} MiB",
                    file=sys.stderr,
                )
    load_after = os.getloadavg()

    def row(config: Config) -> str:
        return (
            f"| {config.label} | {config.version()} | Node {config.node_version()} |"
            f" **{median(config.ready):.3f} s** (min {min(config.ready):.3f}, max"
            f" {max(config.ready):.3f}) | **{median(config.cpu):.2f} s** |"
            f" **{median(config.rss):.1f} MiB** ({median(config.hwm):.1f}) |"
        )

    def each(values: list[float], digits: int) -> str:
        return " ".join(f"{value:.{digits}f}" for value in values)

    lines = [
        "| pi | version | runtime | spawn → ready, median | CPU s until ready, median |"
        f" idle VmRSS {IDLE_WAIT:.0f} s after ready, median (VmHWM) |",
        "|---|---|---|---|---|---|",
        row(new),
        row(old),
        row(cold),
        "",
        f"**Old / new (warm):** ready {median(old.ready) / median(new.ready):.2f}x,"
        f" CPU {median(old.cpu) / median(new.cpu):.2f}x,"
        f" idle memory {median(old.rss) / median(new.rss):.2f}x"
        f" ({median(old.rss) - median(new.rss):+.1f} MiB for the old one)."
        f" New cold / new warm: ready {median(cold.ready) / median(new.ready):.2f}x.",
        "",
        "Every run, in order (interleaved: new, old, new cold, new, old, …):",
        "",
        "| pi | ready s | CPU s | VmRSS MiB |",
        "|---|---|---|---|",
    ]
    for config in configs:
        lines.append(
            f"| {config.label} | {each(config.ready, 3)} | {each(config.cpu, 2)} |"
            f" {each(config.rss, 1)} |"
        )
    stderr_notes = [
        f"- {config.label} printed on stderr: {'; '.join(sorted(config.stderr))}"
        for config in configs
        if config.stderr
    ]
    lines += ["", *(stderr_notes or ["Neither version printed anything on stderr."])]
    lines += [
        "",
        f"Load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} /"
        f" {' '.join(f'{x:.2f}' for x in load_after)}.",
    ]
    return "\n".join(lines)


def main() -> None:
    # A SIGTERM unwinds like Ctrl-C: the temporary homes are removed, pi sees EOF and exits.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured starts per version")
    parser.add_argument("--write", action="store_true", help="save bench/results/pi_versions.md")
    args = parser.parse_args()
    report = run(args.runs)
    header = [
        "# pi versions benchmark: start-up and idle memory",
        "",
        f"Run on {date.today()} by `python bench/pi_versions_bench.py --write`"
        f" ({args.runs} runs each); {platform.machine()}, {os.cpu_count()} CPUs shared with"
        " other work; the bridge's launch of pi (`--mode rpc --no-extensions -e"
        " starter-extension.ts`, `PI_OFFLINE=1`, the compile cache in the home) with the"
        f" scripted model server's config. The old pi is installed into"
        f" `var/bench/pi-{OLD_VERSION}` for this benchmark only.",
        "",
    ]
    text = "\n".join(header) + "\n" + report + "\n"
    print(text)
    if args.write:
        (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
        (ROOT / "bench" / "results" / "pi_versions.md").write_text(text)


if __name__ == "__main__":
    main()
