"""Session display names: untrusted text, cleaned the same way by the bridge and the control plane.

A name is typed by a person, or written by anything in the Sprite into pi's session file, so
it is never markup: clients render it as text. Cleaning makes it one short line: control and
format characters (newlines, NUL, bidirectional overrides, zero-width characters) are dropped,
whitespace runs become one space, and it is cut to ``MAX_SESSION_NAME_CHARS``.
"""

from __future__ import annotations

import unicodedata

from bridge_agent.protocol import MAX_SESSION_NAME_CHARS

# Unicode categories that never belong in a one-line label: controls (Cc), formatting such
# as U+202E RIGHT-TO-LEFT OVERRIDE (Cf), unassigned and private-use code points, surrogates.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs"})


def clean_session_name(value: object) -> str:
    """``value`` as a display name: one line, no control characters, at most the limit.

    Anything that is not a string becomes ``""`` (no name).
    """
    if not isinstance(value, str):
        return ""
    kept = "".join(
        " " if character.isspace() else character
        for character in value
        if character.isspace() or unicodedata.category(character) not in _DROPPED_CATEGORIES
    )
    return " ".join(kept.split())[:MAX_SESSION_NAME_CHARS].strip()
