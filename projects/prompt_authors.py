"""Who said what in a shared project's chat (issue 19).

When the control plane accepts a prompt it records its author (``PromptAuthor``); when it
hands a session's messages to a browser it adds ``starter_author`` (e-mail) to each user
message it can match: same session, same text (by SHA-256), the n-th such message to the
n-th such prompt. Only what this side recorded is ever shown: a Sprite may write any
message, but it cannot name an author.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from projects.models import Project, PromptAuthor

AUTHOR_KEY = "starter_author"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode(errors="surrogatepass")).hexdigest()


def record(project: Project, session_id: str, text: str, user: object) -> None:
    if not session_id or getattr(user, "pk", None) is None:
        return
    PromptAuthor.objects.create(
        project=project, session_id=session_id[:100], text_digest=digest(text),
        user_id=getattr(user, "pk", None),
    )  # fmt: skip


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        str(part.get("text", ""))
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


def attribute(project: Project, session_id: str | None, messages: list[Any]) -> list[Any]:
    """`messages` with ``starter_author`` on the user messages whose author is known (any
    such key coming from the Sprite is dropped first)."""
    cleaned = [
        {key: value for key, value in message.items() if key != AUTHOR_KEY}
        if isinstance(message, dict)
        else message
        for message in messages
    ]
    if not session_id:
        return cleaned
    authors: dict[str, list[str]] = defaultdict(list)
    for text_digest, email in PromptAuthor.objects.filter(
        project=project, session_id=session_id
    ).values_list("text_digest", "user__email"):
        authors[text_digest].append(email or "")
    if not authors:
        return cleaned
    for message in cleaned:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        queue = authors.get(digest(_text_of(message)))
        if queue:
            email = queue.pop(0)
            if email:
                message[AUTHOR_KEY] = email
    return cleaned
