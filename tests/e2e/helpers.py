"""Small helpers for end-to-end tests against the live stack."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from accounts import user_settings
from accounts.models import User
from projects.models import Project, Status


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 60.0,
    interval: float = 0.2,
    message: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_for_status(project: Project, *statuses: str, timeout: float = 90.0) -> Project:
    def reached() -> bool:
        project.refresh_from_db()
        if project.status == Status.ERROR and Status.ERROR not in statuses:
            raise AssertionError(f"project failed: {project.status_message}")
        return project.status in statuses

    wait_for(reached, timeout, message=f"status in {statuses} (last: {project.status})")
    return project


def use_scripted_model(user: User, base_url: str) -> None:
    """Point the user's agents at the scripted model server, as a custom provider."""
    user_settings.save_custom_provider(
        user,
        "fake",
        "openai-completions",
        base_url,
        ["fake-model", "fake-model-2"],
        "sk-scripted-fake",
    )
    user_settings.update_defaults(user, "fake", "fake-model", "off")


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions `text` (a Sprite's home path, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found
