"""Roles in an organisation and what each may do: the one table every check reads.

A check names an :class:`Ability` (what the caller wants to do), never a role, so the
table below is the only place that says which role is enough for what.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Ability(StrEnum):
    # Watch runs, read transcripts, traces, files and previews.
    VIEW = "view"
    # Create and use projects: prompt, exec, terminal input, write files, project secrets.
    USE = "use"
    # Members, invitations, the organisation's settings, provider keys, the Sprites token,
    # budgets and the audit log.
    MANAGE = "manage"
    # Deleting the organisation, making and unmaking owners.
    OWN = "own"


RANK: dict[str, int] = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3, Role.OWNER: 4}

NEEDED: dict[Ability, Role] = {
    Ability.VIEW: Role.VIEWER,
    Ability.USE: Role.MEMBER,
    Ability.MANAGE: Role.ADMIN,
    Ability.OWN: Role.OWNER,
}

# What a role is called in messages ("This needs the member role …").
ARTICLE: dict[str, str] = {
    Role.OWNER: "an owner",
    Role.ADMIN: "an admin",
    Role.MEMBER: "a member",
    Role.VIEWER: "a viewer",
}


def allows(role: str | None, ability: Ability) -> bool:
    """Whether `role` (None: not a member) may do what `ability` names."""
    return role is not None and RANK.get(role, 0) >= RANK[NEEDED[ability]]


def needed_role(ability: Ability) -> Role:
    return NEEDED[ability]
