"""The sandbox around a local Sprite's processes.

``strict`` isolation (the default) gives every Sprite:

- its own unprivileged host uid (``setpriv``), never root, and inside a user namespace of
  its own (bubblewrap) uid 1000 with no capabilities, no new privileges, no further user
  namespaces, and the seccomp filter of ``seccomp.py``;
- its own PID, IPC, UTS, cgroup and mount namespaces: a read-only system, its home
  read-write, a private ``/tmp`` and ``/proc``; the data dir (keys, other homes,
  checkpoints, logs), the checkout and root's home are hidden, and only the runtime the
  bridge needs (its code, its Python packages, pi) is mounted back read-only;
- its own network namespace, with ``pasta`` (Debian's ``passt``) as its way out: outbound
  connections work, ``egress.py`` rejects the platform and private ranges. The bridge
  serves on a listening socket of this machine's loopback that the control plane opens
  and hands in: the Sprite can accept on it, never connect out through it.

It needs root (to switch to a Sprite's uid and install the nftables rules), bubblewrap,
pasta and nft; ``isolation_problem`` says what is missing and how to fix it.

``single-user`` is the explicit development mode for a machine that cannot do that:
bubblewrap only hides the other homes and the data dir, the network is shared, and the
control plane refuses to run Sprites of more than one user (``projects.sprite.backend``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sprites.backends import egress, seccomp

logger = logging.getLogger(__name__)

Isolation = Literal["strict", "single-user"]
ISOLATION_MODES: tuple[Isolation, ...] = ("strict", "single-user")
# Host uids of Sprites: one each, from this range (65536 Sprites per machine).
FIRST_SPRITE_UID = 200_000
LAST_SPRITE_UID = 265_535
SANDBOX_UID = 1000
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Where the bridge's runtime is copied when the checkout sits where others cannot enter.
RUNTIME_COPIES = Path("/var/lib/starter/sprite-runtime")
FIX = (
    "Run the control plane as root on Linux with Debian's bubblewrap, passt and nftables"
    " packages (./scripts/setup installs them), or set STARTER_SPRITE_ISOLATION=single-user"
    " on a development machine used by one person."
)


@dataclass(frozen=True)
class SandboxSpec:
    """What one sandboxed process tree gets."""

    home: Path
    uid: int
    hidden: Sequence[Path] = ()
    readable: Sequence[Path] = ()
    loopback_ports: Sequence[int] = ()
    pass_fds: list[int] = field(default_factory=list)


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(d / name) for d in (Path("/usr/sbin"), Path("/usr/bin")) if (d / name).exists()),
        None,
    )


def bubblewrap_path() -> str | None:
    return _binary("bwrap")


def reachable_by_others(path: Path) -> bool:
    """True when any user can reach ``path`` (every directory above it searchable by
    others, the path itself readable): a Sprite's uid needs that for its runtime."""
    try:
        real = path.resolve(strict=True)
    except OSError:
        return False
    for directory in [*reversed(real.parents), real]:
        mode = directory.stat().st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return bool(real.stat().st_mode & stat.S_IROTH)


@functools.cache
def sandbox_python() -> str:
    """A Python 3 the Sprite's uid can run, of the control plane's minor version (its
    compiled packages are mounted into the Sprite)."""
    own = Path(sys.executable)
    base = Path(sys.base_prefix)
    if reachable_by_others(own) and reachable_by_others(base):
        return str(own)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(f"/usr/bin/python{version}"), Path(f"/usr/local/bin/python{version}")):
        if reachable_by_others(candidate):
            return str(candidate)
    raise RuntimeError(
        f"No Python {version} that a Sprite's user may run: {sys.executable} sits in a"
        f" directory other users cannot enter. Install Debian's python{version} or keep the"
        " interpreter in a world-readable place."
    )


def python_packages() -> Path:
    """The control plane's site-packages (the bridge's dependencies come from there)."""
    return Path(sysconfig.get_paths()["purelib"])


@functools.cache
def _probe_strict() -> str | None:
    if sys.platform != "linux":
        return "local Sprites need Linux namespaces"
    if os.geteuid() != 0:
        return "the control plane does not run as root, so it cannot give Sprites their own uids"
    missing = [name for name in ("bwrap", "pasta", "setpriv") if _binary(name) is None]
    if egress.nft_path() is None:
        missing.append("nft")
    if missing:
        return f"missing programs: {', '.join(missing)}"
    if not seccomp.supported():
        return "no seccomp filter for this processor architecture yet"
    try:
        egress.install(FIRST_SPRITE_UID, LAST_SPRITE_UID)
    except egress.EgressError as error:
        return f"the network rules could not be installed ({error})"
    try:
        sandbox_python()
    except RuntimeError as error:
        return str(error)
    probe_home = Path("/")
    argv = command(["true"], SandboxSpec(home=probe_home, uid=LAST_SPRITE_UID))
    filter_fd = seccomp_fd()
    argv = [part if part != "{seccomp}" else str(filter_fd) for part in argv]
    try:
        result = subprocess.run(
            argv, capture_output=True, timeout=20, check=False, pass_fds=(filter_fd,)
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"a test sandbox failed to start ({error})"
    finally:
        os.close(filter_fd)
    if result.returncode != 0:
        return f"a test sandbox failed: {result.stderr.decode(errors='replace').strip()}"
    return None


def isolation_problem(isolation: Isolation) -> str | None:
    """Why Sprites cannot get this isolation here (``None`` when they can)."""
    if isolation == "strict":
        return _probe_strict()
    return None


def seccomp_fd() -> int:
    """A fresh memfd holding the filter, positioned at 0 (bubblewrap reads it once)."""
    descriptor = os.memfd_create("starter-seccomp", os.MFD_CLOEXEC)
    os.write(descriptor, seccomp.filter_program())
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.set_inheritable(descriptor, True)
    return descriptor


def command(argv: Sequence[str], spec: SandboxSpec) -> list[str]:
    """``argv`` inside a strict sandbox. The literal ``{seccomp}`` stands for the filter's
    descriptor, which the caller opens with ``seccomp_fd`` and passes to the child."""
    uid = str(spec.uid)
    wrapped = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    wrapped += ["--inh-caps=-all", "--"]
    loopback = ",".join(str(port) for port in spec.loopback_ports) or "none"
    wrapped += ["pasta", "--config-net", "--no-map-gw", "--quiet"]
    wrapped += ["-t", "none", "-u", "none", "-T", loopback, "-U", "none", "--"]
    wrapped += ["bwrap", "--unshare-user", "--disable-userns"]
    wrapped += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    wrapped += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    wrapped += ["--hostname", "sprite", "--die-with-parent", "--new-session"]
    wrapped += ["--cap-drop", "ALL", "--seccomp", "{seccomp}"]
    wrapped += _filesystem(spec, hide_root_home=True)
    wrapped += ["--", *argv]
    return wrapped


def single_user_command(argv: Sequence[str], spec: SandboxSpec) -> list[str]:
    """``argv`` in the development mode's sandbox (or unchanged without bubblewrap)."""
    binary = bubblewrap_path()
    if binary is None:
        return list(argv)
    return [binary, "--unshare-pid", *_filesystem(spec, hide_root_home=False), "--", *argv]


def _filesystem(spec: SandboxSpec, *, hide_root_home: bool) -> list[str]:
    """Mounts for ``spec``. In strict mode bubblewrap runs as the Sprite's uid, so every
    path it mounts must be reachable by that uid: a runtime path under a directory others
    cannot enter is mounted from a reachable copy, and that directory is hidden whole."""
    options = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    options += ["--tmpfs", "/tmp"]  # noqa: S108 (a private tmpfs in the sandbox)
    hidden = [*spec.hidden, *([Path("/root")] if hide_root_home else [])]
    readable = [(path, path) for path in spec.readable if path.exists()]
    if hide_root_home:
        hidden = [blocking_ancestor(path) or path for path in hidden]
        hidden += [a for path, _ in readable if (a := blocking_ancestor(path)) is not None]
        readable = [(reachable_copy(path), path) for path, _ in readable]
    for path in _outermost(hidden):
        if path.exists():
            options += ["--tmpfs", str(path)]
    for source, destination in readable:
        options += ["--ro-bind", str(source), str(destination)]
    if spec.home != Path("/"):
        options += ["--bind", str(spec.home), str(spec.home)]
    options += ["--chdir", str(spec.home)]
    return options


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """``paths`` without those under another of them (one tmpfs already hides them)."""
    unique = sorted(set(paths), key=lambda path: len(path.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path == other or other in path.parents for other in kept):
            kept.append(path)
    return kept


def blocking_ancestor(path: Path) -> Path | None:
    """The outermost directory above ``path`` that other users cannot enter."""
    for directory in reversed(path.parents):
        if directory == Path("/"):
            continue
        try:
            if not directory.stat().st_mode & stat.S_IXOTH:
                return directory
        except OSError:
            return None
    return None


@functools.cache
def reachable_copy(path: Path) -> Path:
    """``path`` when other users can reach it, else a read-only copy they can, under
    ``RUNTIME_COPIES`` (hard links where the filesystem allows: no second copy on disk).
    Made once per process and per content: a changed runtime gets a new copy."""
    if blocking_ancestor(path) is None and reachable_by_others(path):
        return path
    digest = hashlib.sha256(str(path).encode())
    for root, directories, files in os.walk(path):
        directories.sort()
        for name in sorted(files):
            info = os.lstat(os.path.join(root, name))
            digest.update(f"{root}/{name}:{info.st_size}:{info.st_mtime_ns}".encode())
    copy = RUNTIME_COPIES / digest.hexdigest()[:20] / path.name
    if not (copy.parent / "complete").exists():
        RUNTIME_COPIES.mkdir(parents=True, exist_ok=True, mode=0o755)
        staging = Path(tempfile.mkdtemp(dir=RUNTIME_COPIES))
        result = subprocess.run(
            ["cp", "-a", "--link", "--", str(path), str(staging / path.name)],
            capture_output=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            shutil.rmtree(staging / path.name, ignore_errors=True)
            subprocess.run(["cp", "-a", "--", str(path), str(staging / path.name)], check=True)
        staging.chmod(0o755)
        (staging / "complete").touch()
        try:
            staging.rename(copy.parent)
        except OSError:  # another process made the same copy meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return copy
