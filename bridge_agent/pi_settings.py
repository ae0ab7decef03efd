"""The Sprite's default model and thinking level, kept in pi's ``settings.json``.

pi before 0.84.3 saved every ``set_model``/``set_thinking_level`` as the default for new
sessions; pi 1.x changes only the running session. The dashboard's model picker means "use
this model in this project from now on", so the bridge saves the choice itself. The control
plane rewrites the file from the owner's settings when the Sprite's environment is synced,
exactly as before.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def save_defaults(
    settings_path: Path,
    *,
    model: tuple[str, str] | None = None,
    thinking_level: str | None = None,
) -> None:
    """Merge the defaults into ``settings_path`` (atomically; other keys are kept)."""
    if model is None and thinking_level is None:
        return
    document: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(settings_path.read_text())
        if isinstance(loaded, dict):
            document = loaded
    if model is not None:
        document["defaultProvider"], document["defaultModel"] = model
    if thinking_level is not None:
        document["defaultThinkingLevel"] = thinking_level
    settings_path.parent.mkdir(parents=True, exist_ok=True)
    partial = settings_path.with_name(f".{settings_path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(document, indent=2))
    partial.replace(settings_path)
