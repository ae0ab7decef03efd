"""Running a command in a project's Sprite, for the REST API, the dashboard and the general
agent alike: validated input, a bounded timeout, and output capped before it is answered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from projects.errors import ProjectError, from_sprite_error
from projects.lifecycle.activity import ensure_running, touch
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import SpriteError, run_sync

MAX_TIMEOUT_SECONDS = 300.0
DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_COMMAND_BYTES = 64 * 1024
MAX_ARGUMENTS = 1000
# Each of stdout and stderr is cut to this many bytes in the answer.
OUTPUT_CAP_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CommandOutcome:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool
    duration_seconds: float


def clean_command(command: str | Sequence[str]) -> str | list[str]:
    """A shell string (run with ``bash -c``) or an argv list, checked for size and NULs."""
    if isinstance(command, str):
        parts = [command]
        if not command.strip():
            raise ProjectError("Give a command to run, e.g. 'ls -la'.")
    else:
        parts = list(command)
        if not parts or not parts[0]:
            raise ProjectError(
                "Give a command to run: a string, or a list whose first item is the program."
            )
        if len(parts) > MAX_ARGUMENTS:
            raise ProjectError(f"A command has at most {MAX_ARGUMENTS} arguments.")
    if any("\x00" in part for part in parts):
        raise ProjectError("A command cannot contain NUL characters.")
    if sum(len(part.encode()) for part in parts) > MAX_COMMAND_BYTES:
        raise ProjectError("A command has at most 64 KiB; write a script file and run that.")
    return command if isinstance(command, str) else parts


def clean_timeout(timeout: float) -> float:
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise ProjectError(
            f"The timeout is in seconds, more than 0 and at most {MAX_TIMEOUT_SECONDS:g}."
        )
    return timeout


def _capped(data: bytes) -> tuple[str, bool]:
    truncated = len(data) > OUTPUT_CAP_BYTES
    return data[:OUTPUT_CAP_BYTES].decode("utf-8", errors="replace"), truncated


def run_command(
    project: Project, command: str | Sequence[str], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> CommandOutcome:
    """Run `command` in the project's home with its secrets in the environment.

    A sleeping Sprite is woken first; any other non-running project is refused (BridgeError).
    A command still running at `timeout` is killed and reported with ``timed_out``.
    """
    cleaned = clean_command(command)
    timeout = clean_timeout(timeout)
    ensure_running(project)
    touch(project)
    started = time.monotonic()
    try:
        result = run_sync(backend_for(project).exec(project.sprite_name, cleaned, timeout=timeout))
    except SpriteError as error:
        raise from_sprite_error(error) from error
    stdout, stdout_cut = _capped(result.stdout)
    stderr, stderr_cut = _capped(result.stderr)
    return CommandOutcome(
        exit_code=result.exit_code,
        stdout=stdout,
        stderr=stderr,
        timed_out=result.timed_out,
        truncated=stdout_cut or stderr_cut,
        duration_seconds=round(time.monotonic() - started, 3),
    )
