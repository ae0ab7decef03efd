"""The projects API: projects, their lifecycle, secrets and checkpoints.

Each operation parses input, finds the caller's project through ``project_for`` and calls
one domain function; errors are mapped to the API's error shape in ``starter/api.py``.
The agent, command/file and event-stream operations live in sibling ``api_*`` modules.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status as Reply

from accounts.api_auth import GENERAL_AGENT_ACCESS, principal_of
from organisations.roles import Ability
from projects import actions
from projects.api.schemas import (
    CheckpointIn,
    CheckpointOut,
    LifecycleOut,
    ProjectFilters,
    ProjectIn,
    ProjectOut,
    ProjectPage,
    ProjectPatchIn,
    RestoredOut,
    SecretIn,
    SecretOut,
)
from projects.lookup import check_delete, organisation_for_principal, project_for_principal
from projects.models import Project, ProjectSecret, Status
from projects.secrets import remove_project_secret, set_project_secret
from projects.sprite import checkpoints
from starter.api_errors import BASE_ERRORS, PROJECT_ERRORS, SPRITE_ERRORS, responses

router = Router(tags=["projects"])


@router.get(
    "",
    response=responses({200: ProjectPage}, *BASE_ERRORS, 404),
    auth=GENERAL_AGENT_ACCESS,
    summary="List your organisations' projects",
)
def list_projects(request: HttpRequest, filters: Query[ProjectFilters]) -> ProjectPage:
    """Newest first; `limit` and `offset` page through, `count` is the total."""
    limit, offset = filters.limit, filters.offset
    projects = (
        Project.objects.for_user(principal_of(request).user).listed().select_related("organisation")
    )
    # One organisation's (named, or the token's limit), else all of the caller's.
    organisation = organisation_for_principal(request, filters.organisation)
    if organisation is not None:
        projects = projects.in_organisation(organisation.pk)
    if filters.status is not None:
        projects = projects.filter(status=filters.status)
    page = [ProjectOut.of(project) for project in projects[offset : offset + limit]]
    return ProjectPage(items=page, count=projects.count(), limit=limit, offset=offset)


@router.post(
    "",
    response=responses({201: ProjectOut}, *BASE_ERRORS, 400, 404, 409),
    auth=GENERAL_AGENT_ACCESS,
    summary="Create a project",
)
def create(request: HttpRequest, payload: ProjectIn) -> Reply[ProjectOut]:
    """Creates the project and starts provisioning its Sprite (status `creating`)."""
    organisation = organisation_for_principal(request, payload.organisation, Ability.USE)
    project = actions.create_project(
        principal_of(request).user, payload.name, payload.description, organisation
    )
    return Reply(201, ProjectOut.of(project))


@router.get(
    "/{project_id}",
    response=responses({200: ProjectOut}, *PROJECT_ERRORS),
    auth=GENERAL_AGENT_ACCESS,
    summary="Get a project",
)
def get(request: HttpRequest, project_id: str) -> ProjectOut:
    return ProjectOut.of(project_for_principal(request, project_id))


@router.patch(
    "/{project_id}",
    response=responses({200: ProjectOut}, *PROJECT_ERRORS, 400),
    summary="Rename a project or change its description",
)
def update(request: HttpRequest, project_id: str, payload: ProjectPatchIn) -> ProjectOut:
    project = project_for_principal(request, project_id, Ability.USE)
    project = actions.rename_project(
        project, payload.name if payload.name is not None else project.name, payload.description
    )
    return ProjectOut.of(project)


def _lifecycle(request: HttpRequest, project_id: str, action: str) -> Reply[LifecycleOut]:
    project = project_for_principal(request, project_id, Ability.USE)
    if action == "destroy":
        check_delete(project, principal_of(request).user)
    task_id = actions.perform(project, action, actor=principal_of(request).user)
    project.refresh_from_db()
    return Reply(202, LifecycleOut(status=Status(project.status), task_id=task_id))


LIFECYCLE_RESPONSES = responses({202: LifecycleOut}, *PROJECT_ERRORS, 409)


@router.delete(
    "/{project_id}", response=LIFECYCLE_RESPONSES, summary="Delete a project (destroys its Sprite)"
)
def delete(request: HttpRequest, project_id: str) -> Reply[LifecycleOut]:
    """The project moves to `destroying`; its Sprite and checkpoints are removed in the
    background, then it is `destroyed` and gone from every listing."""
    return _lifecycle(request, project_id, "destroy")


@router.post("/{project_id}/wake", response=LIFECYCLE_RESPONSES, summary="Wake a sleeping Sprite")
def wake(request: HttpRequest, project_id: str) -> Reply[LifecycleOut]:
    return _lifecycle(request, project_id, "wake")


@router.post("/{project_id}/sleep", response=LIFECYCLE_RESPONSES, summary="Put a Sprite to sleep")
def sleep(request: HttpRequest, project_id: str) -> Reply[LifecycleOut]:
    return _lifecycle(request, project_id, "sleep")


@router.post(
    "/{project_id}/rebootstrap",
    response=LIFECYCLE_RESPONSES,
    summary="Re-install and restart the bridge",
)
def rebootstrap(request: HttpRequest, project_id: str) -> Reply[LifecycleOut]:
    return _lifecycle(request, project_id, "rebootstrap")


@router.post("/{project_id}/retry", response=LIFECYCLE_RESPONSES, summary="Retry a failed project")
def retry(request: HttpRequest, project_id: str) -> Reply[LifecycleOut]:
    return _lifecycle(request, project_id, "retry")


@router.post("/{project_id}/destroy", response=LIFECYCLE_RESPONSES, summary="Destroy a project")
def destroy(request: HttpRequest, project_id: str) -> Reply[LifecycleOut]:
    """The same as `DELETE /projects/{project_id}`."""
    return _lifecycle(request, project_id, "destroy")


@router.post(
    "/{project_id}/gateway-token/rotate",
    response=responses({204: None}, *PROJECT_ERRORS),
    summary="Cut the Sprite's model access and give it a new gateway token",
)
def rotate_gateway_token(request: HttpRequest, project_id: str) -> Reply[None]:
    """The project's Sprite calls models through the platform's gateway with a token of its
    own (never a provider key). Rotating revokes that token at once, so the next model call
    with it is refused (401), and hands the Sprite a new one without a restart. Use it when
    you think the token leaked. The token itself is never shown."""
    project = project_for_principal(request, project_id, Ability.USE)
    actions.rotate_gateway_token(project)
    return Reply(204, None)


# -- secrets --------------------------------------------------------------------------------


def _secret_out(secret: ProjectSecret) -> SecretOut:
    return SecretOut(name=secret.name, created_at=secret.created_at, updated_at=secret.updated_at)


@router.get(
    "/{project_id}/secrets",
    response=responses({200: list[SecretOut]}, *PROJECT_ERRORS),
    tags=["secrets"],
    summary="List secret names (values are write-only)",
)
def list_secrets(request: HttpRequest, project_id: str) -> list[SecretOut]:
    # Secrets are for those who use the project (USE), even their names.
    project = project_for_principal(request, project_id, Ability.USE)
    return [_secret_out(secret) for secret in project.secrets.all()]


@router.put(
    "/{project_id}/secrets/{name}",
    response=responses({200: SecretOut}, *PROJECT_ERRORS, 400),
    tags=["secrets"],
    summary="Set a secret (an environment variable of the Sprite)",
)
def set_secret(request: HttpRequest, project_id: str, name: str, payload: SecretIn) -> SecretOut:
    """A running Sprite gets the new value without a restart: new commands at once, the
    agent when its current run ends."""
    project = project_for_principal(request, project_id, Ability.USE)
    return _secret_out(set_project_secret(project, name, payload.value, principal_of(request).user))


@router.delete(
    "/{project_id}/secrets/{name}",
    response=responses({204: None}, *PROJECT_ERRORS),
    tags=["secrets"],
    summary="Remove a secret",
)
def delete_secret(request: HttpRequest, project_id: str, name: str) -> Reply[None]:
    remove_project_secret(
        project_for_principal(request, project_id, Ability.USE), name, principal_of(request).user
    )
    return Reply(204, None)


# -- checkpoints -----------------------------------------------------------------------------


@router.get(
    "/{project_id}/checkpoints",
    response=responses({200: list[CheckpointOut]}, *PROJECT_ERRORS, 502, 503),
    tags=["checkpoints"],
    summary="List checkpoints of the Sprite's home",
)
def list_checkpoints(request: HttpRequest, project_id: str) -> list[CheckpointOut]:
    project = project_for_principal(request, project_id)
    return [
        CheckpointOut(id=item.id, comment=item.comment, created_at=item.created_at)
        for item in checkpoints.list_checkpoints(project)
    ]


@router.post(
    "/{project_id}/checkpoints",
    response=responses({201: CheckpointOut}, *SPRITE_ERRORS),
    tags=["checkpoints"],
    summary="Checkpoint the Sprite's home",
)
def create_checkpoint(
    request: HttpRequest, project_id: str, payload: CheckpointIn
) -> Reply[CheckpointOut]:
    project = project_for_principal(request, project_id, Ability.USE)
    item = checkpoints.create_checkpoint(project, payload.comment)
    return Reply(201, CheckpointOut(id=item.id, comment=item.comment, created_at=item.created_at))


@router.post(
    "/{project_id}/checkpoints/{checkpoint_id}/restore",
    response=responses({200: RestoredOut}, *SPRITE_ERRORS),
    tags=["checkpoints"],
    summary="Restore the Sprite's home from a checkpoint",
)
def restore_checkpoint(request: HttpRequest, project_id: str, checkpoint_id: str) -> RestoredOut:
    """Stops the bridge, puts the checkpoint's files in place and starts it again; event
    streams then get a `reset` event (the event log came back with the files)."""
    project = project_for_principal(request, project_id, Ability.USE)
    checkpoints.restore_checkpoint(project, checkpoint_id)
    project.refresh_from_db()
    return RestoredOut(restored=checkpoint_id, status=Status(project.status))
