"""A session's slash commands: pi's prompt templates, skills and extension commands.

Where pi 1.6 finds them when the bridge runs it (``--no-extensions -e …``, cwd = the home,
``PI_CODING_AGENT_DIR`` = ``~/.pi/agent``), checked against the pinned pi:

- prompt templates: ``~/.pi/agent/prompts/*.md`` (direct children) → ``/name``;
- skills: ``~/.pi/agent/skills/**/SKILL.md`` and ``~/.agents/skills/**/SKILL.md`` →
  ``/skill:name``;
- not ``~/.pi/prompts`` or ``~/.pi/skills``: with cwd = home those are the *project's*
  ``.pi/`` folders, which pi loads only after a trust decision RPC mode never makes.

pi reads them when it starts and on ``/reload``, which RPC mode lacks; the starter extension
registers ``RELOAD_COMMAND`` for it. ``ResourceWatch`` notices a change in those folders (by
names, sizes and modification times), so the bridge reloads only when something changed.
pi expands ``/name args`` and ``/skill:name args`` itself when they arrive in ``prompt``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bridge_agent.protocol import BRANCH_COMMAND, COMMAND_SOURCES

# bridge_agent/extension/starter-extension.ts RELOAD_COMMAND
RELOAD_COMMAND = "starter-reload-resources"
# A home is the agent's: a runaway folder must not make every command listing slow.
# The extension's commands that the bridge sends itself: never offered to people.
BRIDGE_COMMANDS = frozenset({RELOAD_COMMAND, BRANCH_COMMAND})
MAX_SCANNED_ENTRIES = 5000
MAX_SCAN_DEPTH = 6

Signature = tuple[tuple[str, int, int], ...]


def resource_folders(user_home: Path, agent_dir: Path) -> tuple[Path, ...]:
    return (agent_dir / "prompts", agent_dir / "skills", user_home / ".agents" / "skills")


def _scan(folder: Path, found: list[tuple[str, int, int]], depth: int) -> None:
    if depth > MAX_SCAN_DEPTH or len(found) >= MAX_SCANNED_ENTRIES:
        return
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if len(found) >= MAX_SCANNED_ENTRIES:
            return
        try:
            stat = entry.stat(follow_symlinks=True)
        except OSError:
            continue
        found.append((entry.path, stat.st_mtime_ns, stat.st_size))
        if entry.is_dir(follow_symlinks=True):
            _scan(Path(entry.path), found, depth + 1)


def resources_signature(folders: tuple[Path, ...]) -> Signature:
    """What pi's template and skill folders hold now; equal signatures, nothing to reload."""
    found: list[tuple[str, int, int]] = []
    for folder in folders:
        try:
            stat = folder.stat()
        except OSError:
            found.append((str(folder), -1, -1))
            continue
        found.append((str(folder), stat.st_mtime_ns, stat.st_size))
        _scan(folder, found, 1)
    return tuple(sorted(found))


def listed_commands(commands: Any) -> list[dict[str, Any]]:
    """pi's ``get_commands`` answer as the bridge serves it: name, description, source.

    The control plane limits sizes and counts again: from there, the bridge is untrusted.
    """
    if not isinstance(commands, list):
        return []
    listed: list[dict[str, Any]] = []
    for command in commands:
        if not isinstance(command, dict):
            continue
        name, source = command.get("name"), command.get("source")
        if not isinstance(name, str) or name in BRIDGE_COMMANDS or source not in COMMAND_SOURCES:
            continue
        description = command.get("description")
        listed.append(
            {
                "name": name,
                "description": description if isinstance(description, str) else "",
                "source": source,
            }
        )
    return listed
