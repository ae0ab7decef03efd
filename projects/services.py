"""What people do to projects. Pages, the REST API, the admin and tasks all call these."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from projects.lifecycle.status import transition
from projects.models import (
    RESERVED_SECRET_NAMES,
    RESERVED_SECRET_PREFIXES,
    SECRET_NAME_PATTERN,
    Project,
    ProjectSecret,
    Status,
    validate_project_name,
)

MAX_PROJECTS_PER_USER = 50
MAX_SECRET_BYTES = 64 * 1024


class ProjectError(ValueError):
    """A request about a project that cannot be done; the message is shown to the person."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ProjectError("Give the project a name.")
    if len(name) > 100:
        raise ProjectError("A project name has at most 100 characters.")
    try:
        validate_project_name(name)
    except ValidationError as error:
        raise ProjectError(error.messages[0]) from error
    return name


def clean_description(description: str) -> str:
    description = description.strip()
    if len(description) > 2000:
        raise ProjectError("A description has at most 2000 characters.")
    return description


def create_project(owner: User, name: str, description: str = "") -> Project:
    """Create a project and start provisioning its Sprite once the row is committed."""
    from projects import tasks  # tasks import services' callers; avoid the cycle at import time

    name = clean_name(name)
    description = clean_description(description)
    if Project.objects.for_user(owner).workspaces().count() >= MAX_PROJECTS_PER_USER:
        raise ProjectError(f"You can have at most {MAX_PROJECTS_PER_USER} projects.", "limit")
    with transaction.atomic():
        project = Project.objects.create(owner=owner, name=name, description=description)
        tasks.provision_project.delay_on_commit(project.pk)
    return project


def rename_project(project: Project, name: str, description: str | None = None) -> Project:
    project.name = clean_name(name)
    fields = ["name", "updated_at"]
    if description is not None:
        project.description = clean_description(description)
        fields.append("description")
    project.save(update_fields=fields)
    return project


def destroy_project(project: Project, task_id: str | None = None) -> bool:
    """Mark the project for destruction and destroy its Sprite in the background.

    Returns False when it was already being destroyed (calling twice is harmless).
    `task_id` names the Celery task, for callers that report it (the REST API).
    """
    from projects import tasks

    with transaction.atomic():
        moved = transition(project, Status.DESTROYING, message="")
        if moved:
            tasks.destroy_project_sprite.apply_async_on_commit((project.pk,), task_id=task_id)
    return moved


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


def set_project_secret(project: Project, name: str, value: str) -> ProjectSecret:
    """Add or replace a secret; running Sprites get it by a restart of their bridge."""
    from projects import tasks

    name = clean_secret_name(name)
    if value == "":
        raise ProjectError("A secret needs a value.")
    if len(value.encode()) > MAX_SECRET_BYTES:
        raise ProjectError("A secret value has at most 64 KiB.")
    if "\x00" in value:
        raise ProjectError("A secret value cannot contain NUL characters.")
    with transaction.atomic():
        try:
            secret, _ = ProjectSecret.objects.update_or_create(
                project=project, name=name, defaults={"value": value}
            )
        except IntegrityError as exc:  # two writers racing on a new name
            raise ProjectError("That secret was changed at the same moment; try again.") from exc
        tasks.sync_project_environment.delay_on_commit(project.pk)
    return secret


def remove_project_secret(project: Project, name: str) -> None:
    from projects import tasks

    with transaction.atomic():
        deleted, _ = ProjectSecret.objects.filter(project=project, name=name).delete()
        if not deleted:
            raise ProjectError(f"There is no secret named {name}.", "not_found")
        tasks.sync_project_environment.delay_on_commit(project.pk)
