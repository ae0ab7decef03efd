"""Parts of a deployment that fault tests break: a Redis of their own, and web processes that use
it (beside the live stack's worker, which keeps the machine's Redis for its queue)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import redis
from django.conf import settings

from tests.support.live_stack import ROOT, LiveStack, free_port, web_command

# A run of `for` lines that pi's bash tool prints over ~9 s: hundreds of events, fast.
FAST_STREAM = "[[bash: for i in $(seq 1 300); do echo l$i; sleep 0.03; done]]"


class OwnRedis:
    """``redis-server`` on a free loopback port, without persistence, that the test stops and
    starts (by the PID it started) as an outage would."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None
        with (self.log_dir / f"redis-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()  # a crash: no goodbye to the clients
            process.wait(10)


class WebProcess:
    """One web process of the deployment on the given Redis (its relay, channel layer and
    cache); Celery tasks still go to the live stack's queue on the machine's Redis."""

    def __init__(self, stack: LiveStack, redis_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = dict(
            stack.environment,
            REDIS_URL=redis_url,
            CELERY_BROKER_URL=str(settings.CELERY_BROKER_URL),
            CELERY_RESULT_BACKEND=str(settings.CELERY_RESULT_BACKEND),
        )
        assert stack.log_dir is not None
        self.log_path = stack.log_dir / f"web-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                web_command(self.port),
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while not self._answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the web process did not serve; see {self.log_path}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/accounts/login/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
