"""Several web processes on one listening socket: ``STARTER_WEB_PROCESSES=N``.

One Python process is one core. With N > 1, ``python -m starter.web_server -b HOST -p PORT``
binds the socket itself and starts N web processes that accept on it (daphne's ``--fd``), so
the kernel spreads connections over them; nothing else in Starter changes for that (the relay
keeps one upstream per project across processes through its Redis lock, and every process
gets each event once). This supervisor restarts a process that dies, gives up if they keep
dying at start (a broken configuration should fail loudly, not spin), and on SIGTERM/SIGINT
stops them all.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

logger = logging.getLogger("starter.web_processes")

RESTART_DELAY_SECONDS = 1.0
# A process that dies within this long of its start counts as failing to start.
EARLY_EXIT_SECONDS = 5.0
MAX_EARLY_EXITS = 5
STOP_TIMEOUT_SECONDS = 20.0


def configured_count() -> int:
    raw = os.environ.get("STARTER_WEB_PROCESSES", "1").strip() or "1"
    try:
        count = int(raw)
    except ValueError:
        raise SystemExit(f"STARTER_WEB_PROCESSES must be a whole number, not {raw!r}.") from None
    if not 1 <= count <= 64:
        raise SystemExit("STARTER_WEB_PROCESSES must be between 1 and 64.")
    return count


def split_bind(args: list[str]) -> tuple[str, int, list[str]]:
    """daphne's ``-b HOST -p PORT`` out of its arguments, and the rest untouched."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-b", "--bind", dest="host")
    parser.add_argument("-p", "--port", type=int)
    known, rest = parser.parse_known_args(args)
    if not known.host or known.port is None:
        raise SystemExit("With STARTER_WEB_PROCESSES above 1, give -b HOST and -p PORT.")
    return known.host, known.port, rest


class Supervisor:
    def __init__(self, args: list[str], count: int) -> None:
        host, port, rest = split_bind(args)
        self.listener = socket.create_server((host, port), backlog=2048)
        self.listener.set_inheritable(True)
        fd = self.listener.fileno()
        self.command = [sys.executable, "-m", "starter.web_server", "--fd", str(fd), *rest]
        self.environment = {**os.environ, "STARTER_WEB_PROCESSES": "1"}
        self.count = count
        self.children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self.stopping = False
        self.early_exits = 0
        logger.info("Listening on %s:%s with %d web processes", host, port, count)

    def start_one(self) -> None:
        child = subprocess.Popen(
            self.command, env=self.environment, pass_fds=(self.listener.fileno(),)
        )
        self.children[child.pid] = (child, time.monotonic())

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for _ in range(self.count):
            self.start_one()
        status = 0
        while not self.stopping:
            time.sleep(0.2)
            for pid, (child, started) in list(self.children.items()):
                code = child.poll()
                if code is None or self.stopping:
                    continue
                del self.children[pid]
                early = time.monotonic() - started < EARLY_EXIT_SECONDS
                self.early_exits = self.early_exits + 1 if early else 0
                if self.early_exits >= MAX_EARLY_EXITS:
                    logger.error("Web processes keep exiting at start (last code %s)", code)
                    self.stopping = True
                    status = 1
                    break
                logger.warning("Web process %s exited with %s; starting another", pid, code)
                time.sleep(RESTART_DELAY_SECONDS)
                if not self.stopping:  # a stop may have come during the pause
                    self.start_one()
        self.stop_all()
        return status

    def stop_all(self) -> None:
        for child, _ in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child, _ in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.listener.close()


def supervise(args: list[str], count: int) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return Supervisor(args, count).run()
