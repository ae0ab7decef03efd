"""What bootstrap puts into a Fly Sprite: pinned pi, the bridge package, a start script.

Every step checks before it installs, so running bootstrap again is quick and harmless.
Nothing written here holds a secret: the token and the secrets reach the bridge only as
the environment of its Sprite service.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

from bridge_agent.config import MINIMUM_NODE

PI_PACKAGE = "@earendil-works/pi-coding-agent"
PI_VERSION = "1.6.0"
NODE_VERSION = "22.23.5"  # the same as package.json's node-linux-* pins
BRIDGE_SERVICE = "starter-bridge"
BRIDGE_HTTP_PORT = 8080
STARTER_DIR = ".starter"  # under the home: the bridge's code and install markers
BRIDGE_IMPORTS = ("starlette", "uvicorn", "httpx", "websockets")
_BRIDGE_DISTRIBUTIONS = {
    "starlette": "starlette",
    "uvicorn": "uvicorn[standard]",
    "httpx": "httpx",
    "websockets": "websockets",
}


def bridge_requirements() -> list[str]:
    """The bridge's dependencies, pinned to the versions the control plane runs with."""
    pinned = []
    for distribution, requirement in _BRIDGE_DISTRIBUTIONS.items():
        try:
            pinned.append(f"{requirement}=={importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(requirement)
    return pinned


def bridge_files(source: Path) -> Iterator[tuple[str, bytes]]:
    """``(path relative to the package's parent, content)`` for every file to upload."""
    for path in sorted(source.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        if "node_modules" in path.parts:
            continue
        yield str(path.relative_to(source.parent)), path.read_bytes()


# pi 1.x needs Node >= 22.19, which npm does not enforce (pi installs on Node 20 and then
# crashes at start): the Sprite's Node is checked by version, and a pinned one is installed
# from npm (the node-linux-<arch> package ships the binary) when it is missing or too old.
INSTALL_PI = f"""
set -eu
mkdir -p "$HOME/{STARTER_DIR}"
node_ok() {{
  [ -n "$1" ] && [ -x "$1" ] || return 1
  version="$("$1" --version 2>/dev/null)" || return 1
  major="${{version#v}}"; major="${{major%%.*}}"
  minor="${{version#v*.}}"; minor="${{minor%%.*}}"
  [ "$major" -gt {MINIMUM_NODE[0]} ] 2>/dev/null \\
    || {{ [ "$major" -eq {MINIMUM_NODE[0]} ] && [ "$minor" -ge {MINIMUM_NODE[1]} ]; }} 2>/dev/null
}}
node_bin=""
for candidate in "$HOME/{STARTER_DIR}/node/node_modules/.bin/node" "$(command -v node || true)"; do
  if node_ok "$candidate"; then node_bin="$candidate"; break; fi
done
if [ -z "$node_bin" ]; then
  if ! command -v npm >/dev/null; then
    echo "npm is missing in this Sprite: it is needed to install Node {NODE_VERSION} and pi" >&2
    exit 3
  fi
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) echo "no Node {NODE_VERSION} build for $(uname -m)" >&2; exit 3 ;;
  esac
  npm install --prefix "$HOME/{STARTER_DIR}/node" --no-audit --no-fund --loglevel=error \\
    "node-linux-$arch@{NODE_VERSION}"
  node_bin="$HOME/{STARTER_DIR}/node/node_modules/.bin/node"
  node_ok "$node_bin" || {{
    echo "Node {NODE_VERSION} did not install: $("$node_bin" --version 2>&1 || true)" >&2; exit 3
  }}
fi
echo "$node_bin" > "$HOME/{STARTER_DIR}/node-bin"
echo "node $("$node_bin" --version) at $node_bin"
want="{PI_VERSION}"
pi_bin=""
for candidate in "$HOME/{STARTER_DIR}/pi/node_modules/.bin/pi" "$(command -v pi || true)"; do
  # pi 1.x prints its version on stdout, 0.x on stderr.
  if [ -n "$candidate" ] && [ -x "$candidate" ] \\
     && [ "$("$node_bin" "$candidate" --version 2>&1 | tail -n 1)" = "$want" ]; then
    pi_bin="$candidate"; break
  fi
done
if [ -z "$pi_bin" ]; then
  node_dir="$(dirname "$(readlink -f "$node_bin")")"
  PATH="$node_dir:$PATH" npm install --prefix "$HOME/{STARTER_DIR}/pi" \\
    --no-audit --no-fund --loglevel=error "{PI_PACKAGE}@$want"
  pi_bin="$HOME/{STARTER_DIR}/pi/node_modules/.bin/pi"
fi
echo "$pi_bin" > "$HOME/{STARTER_DIR}/pi-bin"
echo "pi $want at $pi_bin"
"""


def install_python_script(requirements: list[str]) -> str:
    imports = ", ".join(BRIDGE_IMPORTS)
    pins = " ".join(f"'{requirement}'" for requirement in requirements)
    return f"""
set -eu
ready() {{
  [ -n "$1" ] && [ -x "$1" ] && "$1" -c \\
    "import sys; assert sys.version_info >= (3, 11); import {imports}" 2>/dev/null
}}
venv="$HOME/{STARTER_DIR}/venv"
python=""
for candidate in "$venv/bin/python" "$(command -v python3 || true)"; do
  if ready "$candidate"; then python="$candidate"; break; fi
done
if [ -z "$python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check {pins}
  python="$venv/bin/python"
  ready "$python" || {{ echo "Python 3.11 or newer is needed for the bridge" >&2; exit 3; }}
fi
echo "$python" > "$HOME/{STARTER_DIR}/python"
echo "bridge python: $python"
"""


# $PORT/$HOST are unset on a real Sprite (the bridge takes 8080 on all interfaces); the
# fake Sprites API sets them because its sprites share one machine.
RUN_BRIDGE = f"""#!/usr/bin/env bash
# Written by Starter's bootstrap. No secrets here: they arrive in the environment.
set -eu
home="${{HOME:-/home/sprite}}"
cd "$home"
export PYTHONPATH="$home/{STARTER_DIR}/bridge"
export STARTER_PI_BIN="${{STARTER_PI_BIN:-$(cat "$home/{STARTER_DIR}/pi-bin")}}"
export STARTER_NODE_BIN="${{STARTER_NODE_BIN:-$(cat "$home/{STARTER_DIR}/node-bin")}}"
# The keeper restarts a bridge that dies with the newest secrets it was handed.
exec "$(cat "$home/{STARTER_DIR}/python")" -m bridge_agent.keeper \\
  --host "${{HOST:-0.0.0.0}}" --port "${{PORT:-{BRIDGE_HTTP_PORT}}}" --home "$home"
"""
