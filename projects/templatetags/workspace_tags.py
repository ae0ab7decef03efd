"""Template helpers for the workspace's fragments."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def detail_fields(row: dict[str, Any], *names: str) -> str:
    """A row's fields as JSON `[[label, value], …]` for a details panel (autoescaped by the
    template, so it is safe inside an attribute)."""
    fields = [[name.replace("_", " ").capitalize(), row.get(name)] for name in names]
    return json.dumps([field for field in fields if field[1] not in (None, "")])
