"""Benchmark of the relay, bridge → browser websocket: ``.venv/bin/python bench/relay_bench.py``.

Measures, in one run on this machine, and writes ``bench/results/relay.md``: event delivery
latency (event appended to a bridge's log → frame parsed by a websocket client) p50/p99/max
with 1, 50 and 500 concurrent viewers spread over 10 projects at 100 events/s per project;
the number of upstream connections to the bridges (must equal the number of projects with
viewers); events lost or duplicated per viewer (must be zero).

What runs, all real except the event source:

- ten real bridges (``bridge_agent`` apps under uvicorn, one process), each with its own home
  and durable event log. Their events are appended through the bridge's own ``EventLog``
  API, in the bridge process, at a fixed rate, each carrying its append time. (pi and the
  scripted model could not produce 100 events/s per project steadily; everything from the
  log on — SQLite append, SSE fan-out, the relay, the websocket — is the production path.)
- the control plane: the product's web process (``python -m starter.web_server``: daphne on
  uvloop with write-through websocket sends, serving ``starter.asgi``) on a throwaway
  database and a Redis key prefix of its own; the projects point at the bridges through the
  local backend. Then the largest row again with plain ``daphne``, side by side.
- viewers: minimal websocket clients (``ViewerSocket``) on uvloop in separate processes,
  authenticated with an API token, each subscribed with the project's last id and checked
  against the exact id range the bridge appended.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROJECTS = 10
RATE = 100  # events/s per project
DURATION = 10.0  # seconds of events per scenario
SCENARIOS = (1, 50, 200, 500)
BASELINE_SCENARIOS = (500,)
# The web process as the product runs it (Procfile), and plain daphne for the side-by-side.
PRODUCT = "starter.web_server"
SERVERS = {
    "starter.web_server": [sys.executable, "-m", "starter.web_server"],
    "plain daphne": [str(Path(sys.executable).parent / "daphne")],
}
CLIENT_PROCESSES = 2
TOKEN = "bench-bridge-token"
RESULT = ROOT / "bench" / "results" / "relay.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- role: the bridges ------------------------------------------------------------------------


async def run_bridges(data_dir: Path, ports: list[int]) -> None:
    """Serve one bridge per port; on stdin 'run RATE SECONDS' append events, answer ids."""
    import uvicorn

    from bridge_agent.app import create_app
    from bridge_agent.config import BridgeConfig

    apps = []
    servers = []
    for index, port in enumerate(ports):
        home = data_dir / "sprites" / f"bench-{index}" / "home"
        config = BridgeConfig(home=home, token=TOKEN, port=port, prewarm=False)
        app = create_app(config)
        apps.append(app)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        servers.append(server)
    serving = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    print("ready", json.dumps([app.runtime.log.last_id for app in apps]), flush=True)

    async def append(app: Any, rate: int, seconds: float) -> None:
        start = time.monotonic()
        total = int(rate * seconds)
        for number in range(total):
            delay = start + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            app.runtime.log.append("bench_tick", {"sent": time.time(), "n": number}, "bench")

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            break
        _, rate, seconds, count = line.split()
        await asyncio.gather(
            *(append(app, int(rate), float(seconds)) for app in apps[: int(count)])
        )
        print("done", json.dumps([app.runtime.log.last_id for app in apps]), flush=True)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*serving, return_exceptions=True)


# -- role: the viewers ------------------------------------------------------------------------


class ViewerSocket(asyncio.Protocol):
    """A minimal RFC 6455 client for one viewer: the measuring instrument, not the product.

    The viewers share this 2-CPU machine with the relay they measure, so their per-frame
    cost is part of what the relay competes with. The ``websockets`` client spends ~35 µs of
    CPU per frame (bench run of 2026-11-22); this one parses the server's unmasked frames in
    place (~5 µs plus the JSON), which leaves the CPU to the relay, as it would be in
    production, where browsers are not on the relay's machine. It still handles what a
    server may send: fragmented messages, ping (answered with pong) and close.
    """

    def __init__(self, on_text: Any) -> None:
        self.on_text = on_text
        self.buffer = bytearray()
        self.handshake_done = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.fragments: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake_done.done():
            self.handshake_done.set_exception(exc or ConnectionError("closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """Client frames must be masked (RFC 6455 5.3)."""
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = bytes([0x80 | opcode, 0x80 | length])
        elif length < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        assert self.transport is not None
        self.transport.write(header + mask + masked)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self.handshake_done.set_exception(ConnectionError(status.decode()))
                return
            self.upgraded = True
            self.handshake_done.set_result(None)
        buffer = self.buffer
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length = second & 0x7F
            start = offset + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            if second & 0x80:
                raise ValueError("a server frame must not be masked")
            if size - start < length:
                break
            payload = bytes(buffer[start : start + length])
            offset = start + length
            self.frame(first & 0x80, first & 0x0F, payload)
        del buffer[:offset]

    def frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:  # ping
            self.send_frame(0xA, payload)
        elif opcode == 0x8:  # close: echo it, the server closes the TCP connection
            self.send_frame(0x8, payload[:2])
        elif opcode in (0x1, 0x0):
            self.fragments.append(payload)
            if fin:
                message = b"".join(self.fragments)
                self.fragments = []
                self.on_text(message)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send_frame(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()


async def open_viewer(url: str, path: str, token: str, on_text: Any) -> ViewerSocket:
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    loop = asyncio.get_running_loop()
    _, viewer = await loop.create_connection(lambda: ViewerSocket(on_text), host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    )
    assert viewer.transport is not None
    viewer.transport.write(request.encode())
    await asyncio.wait_for(viewer.handshake_done, 60)
    return viewer


async def run_viewers(token: str, assignments: list[tuple[str, str, int]]) -> None:
    """Open one websocket per assignment (url, public_id, after); collect until told the
    targets."""
    latencies: list[int] = []
    frames = [0]  # websocket frames that carried events
    batches: list[int] = []  # sizes of the frames that carried several
    received: list[list[int]] = [[] for _ in assignments]
    sockets: list[ViewerSocket] = []

    async def open_one(index: int, url: str, public_id: str, after: int) -> None:
        ids = received[index]

        def on_text(raw: bytes) -> None:
            now = time.time()
            frame = json.loads(raw)
            kind = frame.get("kind")
            if kind == "event":
                events = [frame["event"]]
            elif kind == "events":
                events = frame["events"]
                batches.append(len(events))
            else:
                return
            frames[0] += 1
            for event in events:
                ids.append(event["id"])
                sent = event["data"].get("sent")
                if sent is not None:
                    latencies.append(int((now - sent) * 1_000_000))

        viewer = await open_viewer(url, f"/ws/projects/{public_id}/", token, on_text)
        viewer.send_frame(0x1, json.dumps({"type": "subscribe", "after": after}).encode())
        sockets.append(viewer)

    limit = asyncio.Semaphore(20)

    async def limited(index: int, url: str, public_id: str, after: int) -> None:
        async with limit:
            await open_one(index, url, public_id, after)

    await asyncio.gather(*(limited(i, u, p, a) for i, (u, p, a) in enumerate(assignments)))
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    targets: dict[str, int] = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(
            (ids[-1] if ids else after) >= targets[public_id]
            for ids, (_, public_id, after) in zip(received, assignments, strict=True)
        ):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # anything arriving late would be a duplicate: let it show
    lost = duplicated = 0
    for ids, (_, public_id, after) in zip(received, assignments, strict=True):
        expected = list(range(after + 1, targets[public_id] + 1))
        duplicated += len(ids) - len(set(ids))
        lost += len(set(expected) - set(ids))
    for viewer in sockets:
        viewer.close()
    outcome = {
        "latencies": latencies,
        "lost": lost,
        "duplicated": duplicated,
        "frames": frames[0],
        "largest_batch": max(batches, default=1),
    }
    print(json.dumps(outcome), flush=True)


# -- the conductor -----------------------------------------------------------------------------


def established_to(ports: list[int]) -> dict[int, int]:
    counts = dict.fromkeys(ports, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if port in counts and fields[3] == "01":
                counts[port] += 1
    return counts


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants (the web
    processes of a supervisor)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def prepare_database(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )


def main(daphnes: int, servers: list[tuple[str, tuple[int, ...]]], write: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    suffix = os.getpid()
    from starter.settings import DATABASE_URL as base_url  # the app's role and password

    database = f"bench_relay_{suffix}"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": base_url.rsplit("/", 1)[0] + "/" + database,
            "STARTER_DATA_DIR": str(work),
            "STARTER_REDIS_PREFIX": f"bench-relay-{suffix}",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": f"bench-secret-{suffix}-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost,.localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    import psycopg

    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    processes: list[subprocess.Popen[str]] = []
    try:
        os.environ.update(env)
        prepare_database(env)
        import django

        os.environ["DJANGO_SETTINGS_MODULE"] = "starter.settings"
        django.setup()
        load_at_start = os.getloadavg()
        results = conduct(work, env, processes, daphnes, servers)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
            if process.poll() is None:
                process.kill()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    if write:
        write_report(results, daphnes, load_at_start)


def conduct(
    work: Path,
    env: dict[str, str],
    processes: list[subprocess.Popen[str]],
    daphnes: int,
    servers: list[tuple[str, tuple[int, ...]]],
) -> list[dict[str, Any]]:
    from accounts.models import User
    from accounts.tokens import create_api_token
    from projects.models import Project, Status

    bridge_ports = [free_port() for _ in range(PROJECTS)]
    bridges = subprocess.Popen(
        [sys.executable, __file__, "bridges", str(work), json.dumps(bridge_ports)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    processes.append(bridges)
    assert bridges.stdout is not None and bridges.stdin is not None
    last_ids = json.loads(bridges.stdout.readline().split(" ", 1)[1])

    owner = User.objects.create_user("bench@example.com", "bench-password-123")
    token = create_api_token(owner, "bench")[1]
    projects = []
    for index, port in enumerate(bridge_ports):
        name = f"bench-{index}"
        run_dir = work / "sprites" / name / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "state").write_text("running")
        (run_dir / "bridge.port").write_text(str(port))
        projects.append(
            Project.objects.create(
                owner=owner, name=name, status=Status.RUNNING, sprite_name=name, bridge_token=TOKEN
            )
        )

    results = []
    for server, server_scenarios in servers:
        webs, urls = start_webs(SERVERS[server], daphnes, env, work, processes)
        for viewers in server_scenarios:
            row = run_row(
                viewers,
                projects,
                last_ids,
                urls,
                webs,
                bridges,
                bridge_ports,
                token,
                env,
                processes,
            )
            row["server"] = server
            results.append(row)
            print(json.dumps(row), flush=True)
            time.sleep(10)  # the feeds linger, then let go of the upstreams
        stop(webs)
    bridges.stdin.write("quit\n")
    bridges.stdin.flush()
    return results


def start_webs(
    command: list[str],
    count: int,
    env: dict[str, str],
    work: Path,
    processes: list[subprocess.Popen[str]],
) -> tuple[list[subprocess.Popen[str]], list[str]]:
    import httpx

    webs: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    # The product runs its processes on one port (STARTER_WEB_PROCESSES); plain daphne
    # cannot, so it gets one port per process and the viewers alternate between them.
    shared = command == SERVERS[PRODUCT]
    for _ in range(1 if shared else count):
        web_port = free_port()
        web = subprocess.Popen(
            [*command, "-b", "127.0.0.1", "-p", str(web_port), "starter.asgi:application"],
            cwd=ROOT,
            env={**env, "STARTER_WEB_PROCESSES": str(count)} if shared else env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / f"web-{len(processes)}.log", "w"),
        )
        processes.append(web)
        webs.append(web)
        urls.append(f"ws://127.0.0.1:{web_port}")
    for url in urls:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                login = url.replace("ws://", "http://") + "/accounts/login/"
                if httpx.get(login).status_code == 200:
                    break
            time.sleep(0.2)
    return webs, urls


def stop(webs: list[subprocess.Popen[str]]) -> None:
    for web in webs:
        web.send_signal(signal.SIGTERM)
    for web in webs:
        try:
            web.wait(15)
        except subprocess.TimeoutExpired:
            web.kill()


def run_row(
    viewers: int,
    projects: list[Any],
    last_ids: list[int],
    urls: list[str],
    webs: list[subprocess.Popen[str]],
    bridges: subprocess.Popen[str],
    bridge_ports: list[int],
    token: str,
    env: dict[str, str],
    processes: list[subprocess.Popen[str]],
) -> dict[str, Any]:
    """One row: ``viewers`` viewers over the first projects, RATE events/s for DURATION s."""
    from projects.relay.wire import connects_key
    from starter.redis import redis_client

    assert bridges.stdin is not None and bridges.stdout is not None
    active = projects[: min(PROJECTS, viewers)]
    # Viewer i watches project i mod 10; each project's viewers alternate between the
    # daphne processes, so every process has viewers of every project.
    assignments = [
        (
            urls[(i // len(active)) % len(urls)],
            active[i % len(active)].public_id,
            last_ids[i % len(active)],
        )
        for i in range(viewers)
    ]
    shares = [assignments[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    clients = []
    for share in shares:
        if not share:
            continue
        client = subprocess.Popen(
            [sys.executable, __file__, "viewers", token, json.dumps(share)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(client)
        clients.append(client)
    for client in clients:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "ready"
    connects_before = {
        p.public_id: int(redis_client().get(connects_key(p.public_id)) or 0) for p in projects
    }
    time.sleep(2.0)  # the upstream streams connect
    cpu_before = {
        "web": sum(cpu_seconds(web.pid) for web in webs),
        "bridges": cpu_seconds(bridges.pid),
        "viewers": sum(cpu_seconds(c.pid) for c in clients),
    }
    started = time.monotonic()

    bridges.stdin.write(f"run {RATE} {DURATION} {len(active)}\n")
    bridges.stdin.flush()
    samples: list[dict[int, int]] = []
    while True:
        samples.append(established_to(bridge_ports))
        line = ""
        import select

        ready, _, _ = select.select([bridges.stdout], [], [], 0.5)
        if ready:
            line = bridges.stdout.readline()
            break
    last_ids[:] = json.loads(line.split(" ", 1)[1])
    elapsed = time.monotonic() - started
    cpu = {
        "web": sum(cpu_seconds(web.pid) for web in webs) - cpu_before["web"],
        "bridges": cpu_seconds(bridges.pid) - cpu_before["bridges"],
        "viewers": sum(cpu_seconds(c.pid) for c in clients) - cpu_before["viewers"],
    }
    targets = {p.public_id: last_ids[i] for i, p in enumerate(projects)}
    outcomes = []
    for client in clients:
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(json.dumps(targets) + "\n")
        client.stdin.flush()
    for client in clients:
        assert client.stdout is not None
        outcomes.append(json.loads(client.stdout.readline()))
        client.wait(30)
    latencies = [value for outcome in outcomes for value in outcome["latencies"]]
    per_port_max = {port: max(sample[port] for sample in samples) for port in bridge_ports}
    opened = {
        p.public_id: int(redis_client().get(connects_key(p.public_id)) or 0)
        - connects_before[p.public_id]
        for p in projects
    }
    return {
        "viewers": viewers,
        "projects": len(active),
        "events": int(RATE * DURATION) * len(active),
        "deliveries": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies) / 1000,
        "mean": statistics.fmean(latencies) / 1000,
        "upstream_max": sum(per_port_max.values()),
        "upstream_projects": sum(1 for v in per_port_max.values() if v),
        "upstream_per_project_max": max(per_port_max.values()),
        "reconnects": sum(opened.values()),
        "lost": sum(o["lost"] for o in outcomes),
        "duplicated": sum(o["duplicated"] for o in outcomes),
        "frames": sum(o["frames"] for o in outcomes),
        "largest_batch": max(o["largest_batch"] for o in outcomes),
        # CPU seconds per second of events (1.0 = one core busy all along).
        "cpu": {name: round(value / elapsed, 2) for name, value in cpu.items()},
        "load": os.getloadavg()[0],
    }


HISTORY_HEADING = "## History (one row per run; the machine is shared, so the spread matters)"
HISTORY_HEADER = """\
| run (UTC) | relay / web process | daphne processes | load at start \
| p99 ms at 1 / 50 / 200 / 500 viewers | p50 ms at 500 | lost | dup |
|---|---|---|---|---|---|---|---|"""


def history(results: list[dict[str, Any]], daphnes: int, load: tuple[float, ...]) -> str:
    """The history section of the results file with this run's row added to its table.

    Earlier rows and any notes under the table are kept as they are.
    """
    by_viewers = {r["viewers"]: r for r in results if r["server"] == PRODUCT}
    p99s = " / ".join(f"{by_viewers[v]['p99']:.1f}" if v in by_viewers else "-" for v in SCENARIOS)
    largest = max(by_viewers)
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | batched under backlog; {PRODUCT} "
        f"(uvloop, write-through) | {daphnes} "
        f"| {' '.join(f'{value:.2f}' for value in load)} | {p99s} "
        f"| {by_viewers[largest]['p50']:.1f} | {sum(r['lost'] for r in results)} "
        f"| {sum(r['duplicated'] for r in results)} |"
    )
    rows: list[str] = []
    notes = ""
    if RESULT.exists() and HISTORY_HEADING in RESULT.read_text():
        kept = RESULT.read_text().split(HISTORY_HEADING, 1)[1].strip("\n").splitlines()
        end = next((i for i, line in enumerate(kept) if not line.startswith("|")), len(kept))
        rows = [line for line in kept[:end] if line.startswith("| 20")]
        notes = "\n".join(kept[end:]).strip()
    body = "\n".join([HISTORY_HEADER, *rows, row])
    return f"{HISTORY_HEADING}\n\n{body}\n" + (f"\n{notes}\n" if notes else "")


def side_by_side(results: list[dict[str, Any]]) -> str:
    """Rows of plain daphne next to the product's web process at the same viewer count."""
    lines = []
    for baseline in (r for r in results if r["server"] != PRODUCT):
        product = next(
            (r for r in results if r["server"] == PRODUCT and r["viewers"] == baseline["viewers"]),
            None,
        )
        if product is None:
            continue
        lines.append(
            f"| {baseline['viewers']} | {baseline['p50']:.1f} / {product['p50']:.1f} "
            f"({baseline['p50'] / max(product['p50'], 0.001):.1f}x) "
            f"| {baseline['p99']:.1f} / {product['p99']:.1f} "
            f"({baseline['p99'] / max(product['p99'], 0.001):.1f}x) "
            f"| {baseline['deliveries'] / max(baseline['frames'], 1):.2f} / "
            f"{product['deliveries'] / max(product['frames'], 1):.2f} "
            f"| {baseline['cpu']['web'] * 1e6 / max(baseline['frames'] / DURATION, 1):.1f} / "
            f"{product['cpu']['web'] * 1e6 / max(product['frames'] / DURATION, 1):.1f} |"
        )
    if not lines:
        return ""
    header = (
        "Same run, same bridges and viewers, only the web process differs "
        f"(plain `daphne` / `python -m {PRODUCT}`; ratio = plain ÷ product):\n\n"
        "| viewers | p50 ms | p99 ms | events per frame | web CPU µs per frame |\n"
        "|---|---|---|---|---|\n"
    )
    return header + "\n".join(lines) + "\n\n"


def write_report(results: list[dict[str, Any]], daphnes: int, load: tuple[float, ...]) -> None:
    rows = "\n".join(
        f"| {r['server']} | {r['viewers']} | {r['projects']} | {r['events']} | {r['deliveries']} "
        f"| {r['frames']} ({r['deliveries'] / max(r['frames'], 1):.1f}, ≤{r['largest_batch']}) "
        f"| {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} "
        f"| {r['upstream_max']} (≤{r['upstream_per_project_max']} per project) "
        f"| {r['lost']} | {r['duplicated']} "
        f"| {r['cpu']['web']:.2f} / {r['cpu']['viewers']:.2f} / {r['cpu']['bridges']:.2f} "
        f"| {r['load']:.1f} |"
        for r in results
    )
    product = [r for r in results if r["server"] == PRODUCT]
    largest = max(product, key=lambda r: r["viewers"])
    p99_met = largest["viewers"] >= 500 and largest["p99"] < 50
    upstream_met = all(
        r["upstream_max"] == r["projects"] and r["upstream_per_project_max"] <= 1 for r in results
    )
    exact_met = all(r["lost"] == 0 and r["duplicated"] == 0 for r in results)

    def verdict(met: bool) -> str:
        return "met" if met else "**not met**"

    processes = "one web process" if daphnes == 1 else f"{daphnes} web processes"
    report = f"""# Relay benchmark

Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `.venv/bin/python bench/relay_bench.py\
{"" if daphnes == 1 else f" --daphnes {daphnes}"}` — {platform.machine()}, {os.cpu_count()} CPUs \
(shared with other work while it ran; load average at the start \
{" ".join(f"{value:.2f}" for value in load)}), Python {platform.python_version()}.

Ten real bridges ({RATE} events/s each, appended through the bridge's own event log, each
event carrying its append time), {processes} with the relay{
        ""
        if daphnes == 1
        else f" (STARTER_WEB_PROCESSES={daphnes}: one port, the kernel spreads the viewers)"
    }, Redis, viewers in {CLIENT_PROCESSES} client processes (a minimal RFC 6455 client on
uvloop, `ViewerSocket`), {DURATION:.0f} s of events per row. The web process is the
product's, `python -m {PRODUCT}` (daphne on uvloop with write-through websocket sends, as
the Procfile runs it); the last rows run plain `daphne` for comparison. Latency = bridge log
append → viewer parsed the websocket frame that carried the event (same clock). "Frames" =
websocket frames that carried events (events per frame, largest frame): under backlog a
viewer gets the events that queued up in one frame. "Upstream" = most ESTABLISHED TCP
connections seen on the bridges' ports during the row, sampled every 0.5 s from
/proc/net/tcp.

| web process | viewers | projects | events | deliveries | frames (events/frame, max) \
| p50 ms | p99 ms | max ms | upstream | lost | dup | CPU web / viewers / bridges | load |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

{side_by_side(results)}| target | measured | |
|---|---|---|
| p99 < 50 ms at 500 viewers | {largest["p99"]:.1f} ms at {largest["viewers"]} viewers \
| {verdict(p99_met)} |
| upstream connections = projects with viewers | \
{", ".join(str(r["upstream_max"]) + "/" + str(r["projects"]) for r in results)} \
| {verdict(upstream_met)} |
| zero events lost or duplicated | {sum(r["lost"] for r in results)} lost, \
{sum(r["duplicated"] for r in results)} duplicated | {verdict(exact_met)} |

"""
    RESULT.write_text(report + history(results, daphnes, load))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("role", nargs="?", default="main", choices=["main", "bridges", "viewers"])
    parser.add_argument("args", nargs="*")
    parser.add_argument(
        "--daphnes",
        type=int,
        default=1,
        help="web processes (default 1): STARTER_WEB_PROCESSES for the product's, "
        "one port each for plain daphne",
    )
    parser.add_argument(
        "--viewers",
        default=",".join(map(str, SCENARIOS)),
        help="comma-separated viewer counts; the results file is written for the full set only",
    )
    parser.add_argument(
        "--baseline-viewers",
        default=",".join(map(str, BASELINE_SCENARIOS)),
        help="viewer counts to run again with plain daphne, side by side ('' for none)",
    )
    options = parser.parse_args()
    if options.role == "bridges":
        asyncio.run(run_bridges(Path(options.args[0]), json.loads(options.args[1])))
    elif options.role == "viewers":
        assignments = [tuple(a) for a in json.loads(options.args[1])]
        uvloop.run(run_viewers(options.args[0], assignments))  # type: ignore[arg-type]
    else:
        scenarios = tuple(int(value) for value in options.viewers.split(",") if value)
        baseline = tuple(int(value) for value in options.baseline_viewers.split(",") if value)
        servers = [(PRODUCT, scenarios)] + ([("plain daphne", baseline)] if baseline else [])
        main(options.daphnes, servers, write=scenarios == SCENARIOS)
