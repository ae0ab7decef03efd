"""What bootstrap puts into a Fly Sprite: pinned pi, the bridge package, a start script.

Every step checks before it installs, so running bootstrap again is quick and harmless.
Nothing written here holds a secret: the token and the secrets reach the bridge only as
the environment of its Sprite service.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

PI_PACKAGE = "@mariozechner/pi-coding-agent"
PI_VERSION = "0.73.1"
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


INSTALL_PI = f"""
set -eu
mkdir -p "$HOME/{STARTER_DIR}"
want="{PI_VERSION}"
pi_bin=""
for candidate in "$HOME/{STARTER_DIR}/pi/node_modules/.bin/pi" "$(command -v pi || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] \\
     && [ "$("$candidate" --version 2>&1 | tail -n 1)" = "$want" ]; then  # pi prints it on stderr
    pi_bin="$candidate"; break
  fi
done
if [ -z "$pi_bin" ]; then
  if ! command -v npm >/dev/null; then
    echo "node and npm are missing in this Sprite; install Node.js 20 or newer" >&2
    exit 3
  fi
  npm install --prefix "$HOME/{STARTER_DIR}/pi" --no-audit --no-fund --loglevel=error \\
    "{PI_PACKAGE}@$want"
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
exec "$(cat "$home/{STARTER_DIR}/python")" -m bridge_agent \\
  --host "${{HOST:-0.0.0.0}}" --port "${{PORT:-{BRIDGE_HTTP_PORT}}}" --home "$home"
"""
