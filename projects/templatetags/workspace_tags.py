"""Template helpers for the workspace's fragments."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def detail_fields(row: dict[str, Any], *names: str) -> str:
    """A row's fields as JSON `[[label, value], …]` for a details panel (autoescaped by the
    template, so it is safe inside an attribute)."""
    fields = [[name.replace("_", " ").capitalize(), row.get(name)] for name in names]
    return json.dumps([field for field in fields if field[1] not in (None, "")])


@register.filter
def iso_time(value: object) -> datetime | None:
    """An ISO-8601 text (a time the Sprite reported) as a datetime for ``|date``; None
    when it is no such text."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
