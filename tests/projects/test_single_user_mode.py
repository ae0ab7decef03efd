"""The single-user development mode serves one user's Sprites only."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from projects.models import Project
from projects.sprite.backend import backend_for
from sprites.backends import SpriteError


def test_single_user_mode_refuses_a_second_users_sprite(
    settings: Any, alice_project: Project, bob: User
) -> None:
    settings.STARTER_SPRITES_BACKEND = "local"
    settings.STARTER_SPRITE_ISOLATION = "single-user"
    assert backend_for(alice_project) is not None
    bobs = Project.objects.create(owner=bob, name="Bob's", sprite_name="starter-bob")
    with pytest.raises(SpriteError, match="single-user mode"):
        backend_for(bobs)
    with pytest.raises(SpriteError, match="single-user mode"):
        backend_for(alice_project)


def test_strict_mode_serves_every_user(settings: Any, alice_project: Project, bob: User) -> None:
    settings.STARTER_SPRITES_BACKEND = "local"
    settings.STARTER_SPRITE_ISOLATION = "strict"
    bobs = Project.objects.create(owner=bob, name="Bob's", sprite_name="starter-bob")
    assert backend_for(bobs) is not None and backend_for(alice_project) is not None
