"""A project's secrets: environment variables for its Sprite, with the rules for their names.

A secret's value is write-only (never shown again); a running Sprite gets a changed set once
the change is committed, without a restart: new commands get it at once, the agent when its
current run ends (``APPLIES_WHEN`` says so to people).
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from organisations import audit
from organisations.models import AuditAction
from projects import tasks
from projects.errors import ProjectError
from projects.models import Project, ProjectSecret

SECRET_NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
# Names the platform itself sets in a Sprite; a project secret must not shadow them.
RESERVED_SECRET_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "SHELL",
        "PWD",
        "LANG",
        "TERM",
        "PYTHONPATH",
        "NODE_OPTIONS",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
    }
)
RESERVED_SECRET_PREFIXES = ("STARTER_", "PI_")
MAX_SECRET_BYTES = 64 * 1024
# What pages say after a secret changed (see projects.lifecycle.steps.sync_environment).
APPLIES_WHEN = "New commands get it now; the agent picks it up when its current run ends."


def clean_secret_name(name: str) -> str:
    name = name.strip()
    if not SECRET_NAME_PATTERN.match(name):
        raise ProjectError(
            "A secret name is an environment variable name: capital letters, digits and "
            "underscores, not starting with a digit (e.g. STRIPE_API_KEY)."
        )
    if name in RESERVED_SECRET_NAMES or name.startswith(RESERVED_SECRET_PREFIXES):
        raise ProjectError(f"{name} is reserved by the platform; choose another name.")
    return name


def set_project_secret(
    project: Project, name: str, value: str, actor: object | None = None
) -> ProjectSecret:
    """Add or replace a secret; the running Sprite gets it without a restart. The
    organisation's audit log records the secret's name (never its value) and ``actor``."""
    name = clean_secret_name(name)
    if value == "":
        raise ProjectError("A secret needs a value.")
    if len(value.encode()) > MAX_SECRET_BYTES:
        raise ProjectError("A secret value has at most 64 KiB.")
    if "\x00" in value:
        raise ProjectError("A secret value cannot contain NUL characters.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                secret, created = ProjectSecret.objects.update_or_create(
                    project=project, name=name, defaults={"value": value}
                )
        except IntegrityError as exc:  # two writers racing on a new name
            raise ProjectError("That secret was changed at the same moment; try again.") from exc
        audit.record(
            project.organisation_id,
            actor,
            AuditAction.SECRET_SET,
            name,
            project=project.public_id,
            project_name=project.name,
            created=created,
        )
        tasks.sync_project_environment.delay_on_commit(project.pk)
    return secret


def remove_project_secret(project: Project, name: str, actor: object | None = None) -> None:
    with transaction.atomic():
        deleted, _ = ProjectSecret.objects.filter(project=project, name=name).delete()
        if not deleted:
            raise ProjectError(f"There is no secret named {name}.", "not_found")
        audit.record(
            project.organisation_id,
            actor,
            AuditAction.SECRET_REMOVED,
            name,
            project=project.public_id,
            project_name=project.name,
        )
        tasks.sync_project_environment.delay_on_commit(project.pk)
