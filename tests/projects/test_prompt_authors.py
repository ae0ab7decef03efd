"""Who said what: the authors the control plane recorded are put on the session's user
messages, in order; whatever the Sprite claims about authors is dropped."""

from __future__ import annotations

import pytest

from accounts.models import User
from projects import prompt_authors
from projects.models import Project

pytestmark = pytest.mark.django_db


def test_user_messages_get_their_recorded_authors_in_order(
    alice: User, bob: User, alice_project: Project
) -> None:
    prompt_authors.record(alice_project, "s1", "hello", alice)
    prompt_authors.record(alice_project, "s1", "hello", bob)
    prompt_authors.record(alice_project, "other", "unrelated", bob)
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
        {"role": "user", "content": "hello"},
        {"role": "user", "content": "unrelated"},
    ]
    found = prompt_authors.attribute(alice_project, "s1", messages)
    assert [message.get("starter_author") for message in found] == [
        "alice@example.com", None, "bob@example.com", None,
    ]  # fmt: skip


def test_an_author_claimed_by_the_sprite_is_dropped(alice: User, alice_project: Project) -> None:
    forged = [{"role": "user", "content": "rm -rf", "starter_author": "ceo@example.com"}]
    assert "starter_author" not in prompt_authors.attribute(alice_project, "s1", forged)[0]
    assert "starter_author" not in prompt_authors.attribute(alice_project, None, forged)[0]
    # Recorded for another session: still not this one's.
    prompt_authors.record(alice_project, "s2", "rm -rf", alice)
    assert "starter_author" not in prompt_authors.attribute(alice_project, "s1", forged)[0]
