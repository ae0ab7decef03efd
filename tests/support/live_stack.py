"""The running product for end-to-end tests: daphne and a Celery worker as real processes.

They use the test database (so tests using them need `transactional_db`), the real Redis,
and a data directory of their own; both are stopped when the test session ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_command(port: int, application: str = "starter.asgi:application") -> list[str]:
    """The product's web process (as the Procfile runs it) on a loopback port."""
    return [
        sys.executable,
        "-m",
        "starter.web_server",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        application,
    ]


@dataclass
class LiveStack:
    url: str
    data_dir: Path
    environment: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path | None = None
    # Where the stack's Sprites reach the model gateway (its own process and port).
    gateway_url: str = ""

    def wait_serving(self) -> None:
        """Returns once the web process serves its login page; stops the stack if it never
        does."""
        # Generous: on a loaded 2-CPU machine (suites side by side) daphne took over 30 s to
        # serve.
        deadline = time.monotonic() + 90
        checks = [(self.url + "/accounts/login/", "web")]
        if self.gateway_url:
            # The gateway answers a call without a token with its own 401.
            checks.append((self.gateway_url + "/p/none/x", "gateway"))
        for url, name in checks:
            while time.monotonic() < deadline:
                try:
                    answer = httpx.get(url, timeout=2)
                    if answer.status_code == 200 or (name == "gateway" and answer.status_code):
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                self.stop()
                raise RuntimeError(f"daphne did not start; see {self.log_dir}/{name}.log")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stack_environment(database_name: str, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    base_url = settings.DATABASE_URL  # with the role's password: the data dir differs
    environment = dict(os.environ)
    environment.update(
        {
            "DATABASE_URL": base_url.rsplit("/", 1)[0] + "/" + database_name,
            "STARTER_DATA_DIR": str(data_dir),
            "DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
            # The test process and the stack must read each other's encrypted columns.
            "SECRET_KEY": settings.SECRET_KEY,
            "STARTER_ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
        }
    )
    environment.update(extra)
    return environment


def start_live_stack(
    database_name: str,
    data_dir: Path,
    extra: dict[str, str] | None = None,
    with_worker: bool = True,
) -> LiveStack:
    stack = launch_live_stack(database_name, data_dir, extra, with_worker)
    stack.wait_serving()
    return stack


def launch_live_stack(
    database_name: str,
    data_dir: Path,
    extra: dict[str, str] | None = None,
    with_worker: bool = True,
) -> LiveStack:
    """Starts the stack's processes without waiting for them (``LiveStack.wait_serving``):
    a test that needs several stacks lets them start side by side."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    port, gateway_port = free_port(), free_port()
    # The model gateway on a port of its own, as the Procfile runs it: local Sprites are
    # given that port only, never the dashboard's (gateway/asgi.py).
    gateway_url = f"http://127.0.0.1:{gateway_port}/gateway"
    environment = stack_environment(
        database_name,
        data_dir,
        {
            "STARTER_SITE_URL": f"http://127.0.0.1:{port}",
            "STARTER_GATEWAY_URL": gateway_url,
            **(extra or {}),
        },
    )
    stack = LiveStack(
        url=f"http://127.0.0.1:{port}",
        data_dir=data_dir,
        environment=environment,
        log_dir=log_dir,
        gateway_url=environment["STARTER_GATEWAY_URL"],
    )
    bin_dir = Path(sys.executable).parent
    commands = {
        "web": web_command(port),
        "gateway": web_command(gateway_port, "gateway.asgi:application"),
    }
    if with_worker:
        commands["worker"] = [
            str(bin_dir / "celery"),
            "-A",
            "starter",
            "worker",
            "--pool=threads",
            "--concurrency=4",
            "--loglevel=INFO",
            "-n",
            f"test-{port}@%h",
        ]
    for name, command in commands.items():
        log = open(log_dir / f"{name}.log", "wb")
        stack.processes.append(
            subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        )
    return stack


def iter_stack(
    database_name: str, data_dir: Path, extra: dict[str, str] | None = None
) -> Iterator[LiveStack]:
    stack = start_live_stack(database_name, data_dir, extra)
    try:
        yield stack
    finally:
        stack.stop()
        destroy_local_sprites(data_dir)


def destroy_local_sprites(data_dir: Path) -> None:
    """Stop every bridge a test left running (a failed test skips its own clean-up)."""
    from sprites.backends import get_backend, run_sync

    backend = get_backend("local", data_dir=data_dir)
    for info in run_sync(backend.list_sprites()):
        run_sync(backend.destroy(info.name))


def outermost_bridges(home: Path) -> set[int]:
    """The outermost processes running a bridge for ``home`` (the sandbox's launcher, whose
    pid the backend records): one per bridge, however many processes its sandbox has."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "bridge_agent" in command and str(home) in command:
            # state ppid ..., after the command name in parentheses
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return {pid for pid, parent in parents.items() if parent not in parents}
