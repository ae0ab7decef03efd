"""Run a local Sprite's processes inside bubblewrap, where bubblewrap works.

Inside the sandbox the whole system is read-only, the data dir (every other Sprite's
home, run files and checkpoints) is hidden behind an empty tmpfs, only this Sprite's home
is writable, ``/tmp`` is private, and a PID namespace keeps other processes (and their
environment, which holds secrets) out of ``/proc``. The network is shared: the bridge
listens on a loopback port of this machine.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)


@functools.cache
def bubblewrap_path() -> str | None:
    """The bwrap binary if it can actually build a sandbox here (probed once)."""
    binary = shutil.which("bwrap")
    if binary is None:
        logger.warning(
            "bubblewrap (bwrap) is not installed: local Sprites are not isolated from each"
            " other. Install Debian's 'bubblewrap' package to isolate them."
        )
        return None
    probe = [
        binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
        "--tmpfs", "/tmp", "--unshare-pid", "--", "true",  # noqa: S108 (a private tmpfs)
    ]  # fmt: skip
    try:
        result = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        reason = str(error)
    else:
        if result.returncode == 0:
            return binary
        reason = result.stderr.decode(errors="replace").strip()
    logger.warning(
        "bubblewrap cannot create a sandbox here (%s): local Sprites are not isolated from"
        " each other.",
        reason,
    )
    return None


def sandboxed(
    argv: Sequence[str],
    *,
    home: Path,
    hidden: Sequence[Path],
    readable: Sequence[Path] = (),
    use_sandbox: bool = True,
) -> list[str]:
    """``argv`` wrapped in bwrap (or unchanged when bwrap does not work here).

    ``hidden`` paths are covered by empty tmpfs; ``readable`` ones (the bridge's code,
    say) are then mounted back read-only, in case they sit under a hidden path or /tmp.
    """
    binary = bubblewrap_path() if use_sandbox else None
    if binary is None:
        return list(argv)
    wrapped = [binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    wrapped += ["--tmpfs", "/tmp"]  # noqa: S108 (a private tmpfs in the sandbox)
    for path in hidden:
        wrapped += ["--tmpfs", str(path)]
    for path in readable:
        wrapped += ["--ro-bind-try", str(path), str(path)]
    wrapped += ["--bind", str(home), str(home), "--chdir", str(home), "--unshare-pid"]
    wrapped += ["--", *argv]
    return wrapped
