"""``python -m bridge_agent.keeper BRIDGE-ARGUMENTS``: run the bridge, and restart it at once
whenever it dies.

The keeper is the bridge's parent inside the Sprite, so it learns of the bridge's death the
moment it happens (``wait``), not on anyone's poll. It does nothing else: no imports beyond
the standard library and the bridge's environment rules (themselves standard library only),
no network, no files; it holds the listening socket handed in with ``--listen-fd`` and
passes it to each bridge it starts.

A bridge restarted here gets the newest secrets, not the ones the keeper was started with:
each bridge gets the write end of a pipe (``--environment-fd``) and writes the set it took
from the control plane there; a thread of the keeper reads it and keeps it, in memory only,
for the next start (``bridge_agent/environment_handoff.py``). The bridge's token is never
taken from the pipe. Because the socket stays open in the
keeper, the bridge's address never changes, and a connection made while the bridge is down
(the relay reconnecting, an API call) waits in the socket's backlog and is served by the
restarted bridge as soon as it is ready, instead of being refused and retried later.

Why here and not in the control plane: a bridge outlives the Celery worker that started it
(``sprites/backends/processes.py`` starts it detached, and workers come and go), so no
control-plane process is reliably its parent; the Sprite's own process tree is the one
thing that lives exactly as long as the bridge should. The control plane's supervisor
(beat's ``supervise_local_sprites``) still restarts a Sprite whose keeper died too.

Restarts back off (``RESTART_DELAYS``; a bridge that ran ``HEALTHY_AFTER`` seconds counts
as healthy and starts the sequence again), so a bridge that cannot start never spins.
Every death is logged at ERROR, naming the pid and how it ended. SIGTERM, SIGINT and SIGHUP
are passed to the bridge, and the keeper exits once it has; a bridge that exits with status
0 by itself (a clean shutdown) is not restarted either.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from bridge_agent.environment import replaced
from bridge_agent.environment_handoff import ENVIRONMENT_FD_FLAG, decode

logger = logging.getLogger("bridge_agent.keeper")

RESTART_DELAYS = (0.05, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_AFTER = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
HANDOFF_READ_TIMEOUT = 5.0


def listen_fd(argv: list[str]) -> int | None:
    """The ``--listen-fd`` descriptor in the bridge's arguments, if any."""
    for index, argument in enumerate(argv):
        if argument == "--listen-fd" and index + 1 < len(argv):
            return int(argv[index + 1])
        if argument.startswith("--listen-fd="):
            return int(argument.split("=", 1)[1])
    return None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Keeper:
    def __init__(self, argv: list[str]) -> None:
        self.command = [sys.executable, "-m", "bridge_agent", *argv]
        descriptor = listen_fd(argv)
        self.pass_fds: tuple[int, ...] = (descriptor,) if descriptor is not None else ()
        # The environment of the next bridge; the newest set a bridge handed over replaces
        # its secrets (names only are ever logged).
        self.environment = dict(os.environ)
        self._environment_lock = threading.Lock()
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        self.restarts = 0

    def _start_bridge(self) -> tuple[subprocess.Popen[bytes], threading.Thread]:
        """Start a bridge with its own handoff pipe, and the thread that reads it. A pipe
        per bridge: a dying bridge's half-written line ends with its pipe, never spoiling
        the next bridge's first one."""
        read_end, write_end = os.pipe()
        try:
            with self._environment_lock:
                environment = dict(self.environment)
            child = subprocess.Popen(
                [*self.command, ENVIRONMENT_FD_FLAG, str(write_end)],
                pass_fds=(*self.pass_fds, write_end),
                env=environment,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            # Only the bridge holds the write end now: its death is the reader's end of file.
            os.close(write_end)
        reader = threading.Thread(
            target=self._read_handoffs, args=(read_end,), name="environment-handoff", daemon=True
        )
        reader.start()
        return child, reader

    def _read_handoffs(self, read_end: int) -> None:
        """Keep every complete set the bridge writes; a line that is not one is ignored."""
        buffered = b""
        try:
            while chunk := os.read(read_end, 65536):
                buffered += chunk
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    self._take(line)
        except OSError as error:
            logger.error("reading the bridge's environment handoff failed: %s", error)
        finally:
            os.close(read_end)

    def _take(self, line: bytes) -> None:
        update = decode(line)
        if update is None:
            logger.error("the bridge handed over an environment the keeper refuses; ignored")
            return
        variables, listed = update
        with self._environment_lock:
            self.environment, changed = replaced(self.environment, variables, listed)
        logger.info("a restarted bridge gets the new values of %s", ", ".join(changed) or "none")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum
        child = self.child
        if child is not None and child.returncode is None:
            try:
                child.send_signal(signum)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        for stop in STOP_SIGNALS:
            signal.signal(stop, self._on_signal)
        failures = 0
        while self.stop_signal is None:
            started = time.monotonic()
            self.child, reader = self._start_bridge()
            if self.stop_signal is not None:  # a signal landed while it was being started
                self.child.send_signal(self.stop_signal)
            returncode = self.child.wait()
            # What the bridge wrote before it died is read before the next one starts.
            reader.join(HANDOFF_READ_TIMEOUT)
            ran = time.monotonic() - started
            if self.stop_signal is not None:
                return 0
            if returncode == 0:
                logger.info("the bridge (pid %s) shut down cleanly", self.child.pid)
                return 0
            if ran >= HEALTHY_AFTER:
                failures = 0
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            self.restarts += 1
            logger.error(
                "the bridge (pid %s) %s after %.1f s; restarting it in %.2f s (restart %d)",
                self.child.pid,
                describe_exit(returncode),
                ran,
                delay,
                self.restarts,
            )
            self._pause(delay)
        return 0

    def _pause(self, seconds: float) -> None:
        """Sleep, but return at once when asked to stop."""
        deadline = time.monotonic() + seconds
        while self.stop_signal is None and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("STARTER_LOG_LEVEL", "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return Keeper(sys.argv[1:] if argv is None else argv).run()


if __name__ == "__main__":
    sys.exit(main())
