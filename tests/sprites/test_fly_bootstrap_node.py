"""The Fly bootstrap's Node check and install (``fly_bootstrap.INSTALL_PI``), and the Node
the bridge is started with (``RUN_BRIDGE``).

pi 1.x needs Node >= 22.19 and npm does not enforce it: pi installs on Node 20 and crashes at
start. The scripts run here under bash, as the fly backend runs them in a Sprite, with fake
``node``/``npm``/``pi`` programs on a PATH that holds nothing else (so nothing is downloaded
and the machine's own Node and npm stay out of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bridge_agent.config import MINIMUM_NODE
from sprites.backends.fly import FlyBackend
from sprites.backends.fly_bootstrap import (
    BRIDGE_SERVICE,
    INSTALL_PI,
    NODE_VERSION,
    PI_PACKAGE,
    PI_VERSION,
    RUN_BRIDGE,
    STARTER_DIR,
)
from sprites.backends.local import PROJECT_ROOT
from tests.support.fake_sprites_api import RunningFake
from tests.support.fake_sprites_state import SPRITE_HOME

# What the scripts use besides node, npm and pi.
TOOLS = ("bash", "sh", "mkdir", "cat", "dirname", "readlink", "tail", "uname", "chmod")
ARCH = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]

FAKE_NODE = """#!/bin/bash
# A Node that only knows its version; "node SCRIPT ARGS" runs the (shell) script.
if [ "$1" = "--version" ]; then echo "{version}"; exit 0; fi
exec "$@"
"""
FAKE_PI = """#!/bin/bash
[ "$1" = "--version" ] && echo "{version}"
"""
# npm install --prefix DIR ... PACKAGE: logs its arguments and the node it would run with,
# then "installs" a fake node (FAKE_INSTALLED_NODE, default the pinned version) or pi.
FAKE_NPM = """#!/bin/bash
echo "npm $* | node=$(command -v node)" >> "$HOME/npm.log"
prefix=""; previous=""
for argument in "$@"; do
  [ "$previous" = "--prefix" ] && prefix="$argument"
  previous="$argument"
done
package="${@: -1}"
mkdir -p "$prefix/node_modules/.bin"
case "$package" in
  node-linux-*)
    printf '#!/bin/bash\\nif [ "$1" = "--version" ]; then echo "%s"; exit 0; fi\\nexec "$@"\\n' \\
      "${FAKE_INSTALLED_NODE:-v@NODE@}" > "$prefix/node_modules/.bin/node"
    chmod +x "$prefix/node_modules/.bin/node" ;;
  *pi-coding-agent*)
    printf '#!/bin/bash\\n[ "$1" = "--version" ] && echo "@PI@"\\n' \\
      > "$prefix/node_modules/.bin/pi"
    chmod +x "$prefix/node_modules/.bin/pi" ;;
esac
""".replace("@NODE@", NODE_VERSION).replace("@PI@", PI_VERSION)


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


class SpriteShell:
    """A home and a PATH of chosen programs; runs the bootstrap's scripts with bash."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.home.mkdir()
        self.tools = root / "tools"
        self.tools.mkdir()
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found is not None, tool
            (self.tools / tool).symlink_to(found)
        self.bin = root / "bin"
        self.bin.mkdir()

    def node(self, version: str, directory: Path | None = None) -> Path:
        return executable((directory or self.bin) / "node", FAKE_NODE.format(version=version))

    def pi(self, version: str) -> Path:
        return executable(self.bin / "pi", FAKE_PI.format(version=version))

    def npm(self) -> Path:
        return executable(self.bin / "npm", FAKE_NPM)

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {"HOME": str(self.home), "PATH": f"{self.bin}:{self.tools}", **env}
        return subprocess.run(
            [str(self.tools / "bash"), "-c", script],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
        )

    @property
    def starter(self) -> Path:
        return self.home / STARTER_DIR

    def npm_calls(self) -> list[str]:
        log = self.home / "npm.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def sprite(tmp_path: Path) -> SpriteShell:
    return SpriteShell(tmp_path)


NODE_OK = re.search(r"^node_ok\(\) \{\n.*?^\}\n", INSTALL_PI, re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        ("v18.19.0", False),
        ("v20.20.2", False),  # this machine's Debian Node: pi 1.x crashes on it
        ("v22.9.0", False),  # minor 9 < 19 as numbers, though "9" > "19" as text
        ("v22.18.1", False),
        ("v22.19.0", True),
        (f"v{NODE_VERSION}", True),
        ("v22.190.0", True),
        ("v23.0.0", True),
        ("v24.11.1", True),
        ("v100.0.0", True),
        ("not a version", False),
        ("", False),
    ],
)
def test_node_ok_accepts_only_node_22_19_and_newer(
    sprite: SpriteShell, version: str, accepted: bool
) -> None:
    assert NODE_OK is not None, "INSTALL_PI no longer defines node_ok()"
    assert MINIMUM_NODE == (22, 19)
    node = sprite.node(version)
    result = sprite.run(f'{NODE_OK.group(0)}\nnode_ok "{node}"')
    assert (result.returncode == 0) is accepted, (version, result.stderr)


def test_node_ok_refuses_what_is_not_a_working_node(sprite: SpriteShell) -> None:
    assert NODE_OK is not None
    broken = executable(sprite.bin / "broken-node", "#!/bin/bash\nexit 1\n")
    not_executable = sprite.bin / "plain-file"
    not_executable.write_text("v22.23.5")
    for candidate in ("", str(sprite.bin / "missing"), str(broken), str(not_executable)):
        result = sprite.run(f'{NODE_OK.group(0)}\nnode_ok "{candidate}"')
        assert result.returncode != 0, candidate


def test_an_old_node_gets_the_pinned_node_from_npm_and_pi_installs_with_it(
    sprite: SpriteShell,
) -> None:
    sprite.node("v20.20.2")
    sprite.npm()
    result = sprite.run(INSTALL_PI)
    assert result.returncode == 0, result.stderr
    installed_node = sprite.starter / "node" / "node_modules" / ".bin" / "node"
    installed_pi = sprite.starter / "pi" / "node_modules" / ".bin" / "pi"
    node_call, pi_call = sprite.npm_calls()
    assert node_call.startswith(f"npm install --prefix {sprite.starter / 'node'} ")
    assert f"node-linux-{ARCH}@{NODE_VERSION} |" in node_call
    assert pi_call.startswith(f"npm install --prefix {sprite.starter / 'pi'} ")
    # npm (and pi's install scripts) run with the new Node first on PATH.
    assert pi_call.endswith(f"{PI_PACKAGE}@{PI_VERSION} | node={installed_node}")
    assert (sprite.starter / "node-bin").read_text().strip() == str(installed_node)
    assert (sprite.starter / "pi-bin").read_text().strip() == str(installed_pi)
    assert f"node v{NODE_VERSION} at {installed_node}" in result.stdout

    again = sprite.run(INSTALL_PI)  # a second bootstrap finds both and installs nothing
    assert again.returncode == 0, again.stderr
    assert len(sprite.npm_calls()) == 2
    assert (sprite.starter / "node-bin").read_text().strip() == str(installed_node)


def test_a_recent_node_and_the_pinned_pi_on_path_are_used_as_they_are(
    sprite: SpriteShell,
) -> None:
    node = sprite.node("v22.19.0")
    pi = sprite.pi(PI_VERSION)
    sprite.npm()
    result = sprite.run(INSTALL_PI)
    assert result.returncode == 0, result.stderr
    assert sprite.npm_calls() == []
    assert (sprite.starter / "node-bin").read_text().strip() == str(node)
    assert (sprite.starter / "pi-bin").read_text().strip() == str(pi)


def test_an_older_pi_on_path_is_not_taken(sprite: SpriteShell) -> None:
    sprite.node(f"v{NODE_VERSION}")
    sprite.pi("0.73.1")
    sprite.npm()
    result = sprite.run(INSTALL_PI)
    assert result.returncode == 0, result.stderr
    (pi_call,) = sprite.npm_calls()
    assert f"{PI_PACKAGE}@{PI_VERSION}" in pi_call
    assert (sprite.starter / "pi-bin").read_text().strip() == str(
        sprite.starter / "pi" / "node_modules" / ".bin" / "pi"
    )


def test_an_old_node_without_npm_stops_the_bootstrap_with_a_reason(sprite: SpriteShell) -> None:
    sprite.node("v20.20.2")
    result = sprite.run(INSTALL_PI)
    assert result.returncode == 3
    assert "npm is missing" in result.stderr
    assert not (sprite.starter / "node-bin").exists()


def test_a_node_that_installs_too_old_stops_the_bootstrap(sprite: SpriteShell) -> None:
    sprite.node("v20.20.2")
    sprite.npm()
    result = sprite.run(INSTALL_PI, FAKE_INSTALLED_NODE="v20.1.0")
    assert result.returncode == 3
    assert f"Node {NODE_VERSION} did not install: v20.1.0" in result.stderr
    assert not (sprite.starter / "node-bin").exists()


def test_run_bridge_exports_the_installed_node_and_pi(sprite: SpriteShell) -> None:
    """The bridge runs pi with STARTER_NODE_BIN (bridge_agent.config.find_node_binary)."""
    sprite.starter.mkdir()
    fake_python = executable(
        sprite.bin / "python3",
        '#!/bin/bash\necho "node=$STARTER_NODE_BIN pi=$STARTER_PI_BIN path=$PYTHONPATH"\n'
        'echo "args=$*"\n',
    )
    (sprite.starter / "python").write_text(f"{fake_python}\n")
    (sprite.starter / "node-bin").write_text("/sprite/node/bin/node\n")
    (sprite.starter / "pi-bin").write_text("/sprite/pi/bin/pi\n")
    script = sprite.home / "run-bridge.sh"
    executable(script, RUN_BRIDGE)

    result = sprite.run(str(script), PORT="18080", HOST="127.0.0.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"node=/sprite/node/bin/node pi=/sprite/pi/bin/pi path={sprite.starter / 'bridge'}",
        f"args=-m bridge_agent.keeper --host 127.0.0.1 --port 18080 --home {sprite.home}",
    ]
    # A value the service sets itself wins over the file.
    chosen = sprite.run(str(script), STARTER_NODE_BIN="/chosen/node")
    assert chosen.stdout.startswith("node=/chosen/node ")


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


async def test_a_bootstrapped_sprite_runs_pi_with_the_node_the_bootstrap_checked(
    fly_backend: FlyBackend, fake_api: RunningFake
) -> None:
    """Through the fake Sprites API: bootstrap → node-bin → RUN_BRIDGE → the bridge runs pi
    as ``<node-bin> <pi-bin> --mode rpc …`` (its prewarmed session)."""
    await fly_backend.bootstrap("fly-node", "fly-node-token", {})
    sprite = fake_api.state.sprites["fly-node"]
    node_bin = sprite.host_path(f"{SPRITE_HOME}/{STARTER_DIR}/node-bin").read_text().strip()
    assert node_bin == str(PROJECT_ROOT / "node_modules" / ".bin" / "node")  # on the image's PATH
    bridge = sprite.services[BRIDGE_SERVICE].process
    assert bridge is not None
    environ = Path(f"/proc/{bridge.pid}/environ").read_bytes().split(b"\0")
    assert f"STARTER_NODE_BIN={node_bin}".encode() in environ
    deadline = time.monotonic() + 30
    while True:
        commands = [
            Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            for pid in descendants(bridge.pid)
            if Path(f"/proc/{pid}/cmdline").exists()
        ]
        pis = [command for command in commands if b"--mode" in command]
        if pis:
            break
        assert time.monotonic() < deadline, f"no pi under the bridge: {commands}"
        await asyncio.sleep(0.1)
    assert pis[0][0].decode() == node_bin
