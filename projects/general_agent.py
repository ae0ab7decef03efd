"""The general agent: one per user, in a Sprite of its own, reaching into all of the
user's projects through the REST API (seed section 9).

It is a Project of kind GENERAL_AGENT, so it is created, bootstrapped, woken and
destroyed by the same lifecycle as any project, and its chat uses the same bridge and
relay. What makes it general is its environment: STARTER_AGENT_ROLE=general makes the
bridge load the general-agent extension, and STARTER_API_TOKEN is an API token of the
`general_agent` scope that belongs to this user alone (kept as an encrypted project
secret, given to the bridge only as environment).
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import ApiToken, User
from accounts.tokens import create_api_token, revoke_api_token
from organisations.access import role_of
from organisations.personal import personal_organisation_of
from projects import actions
from projects.models import Kind, Project, ProjectQuerySet, ProjectSecret, Status

TOKEN_SECRET_NAME = "STARTER_API_TOKEN"  # noqa: S105 (a variable name)
TOKEN_NAME = "General agent"  # noqa: S105 (a label)
AGENT_NAME = "General agent"


def _own_agents(user: User) -> ProjectQuerySet:
    """The general agent stays personal: the user's own, in their personal organisation,
    never another member's (even where they share an organisation)."""
    return Project.objects.filter(
        kind=Kind.GENERAL_AGENT, owner=user, organisation__personal_of=user
    )


def find_general_agent(user: User) -> Project | None:
    agent = _own_agents(user).exclude(status=Status.DESTROYED).select_related("organisation")
    found = agent.first()
    if found is not None:
        # The workspace tells the page the caller's role, as for any project.
        found.member_role = role_of(user, found.organisation_id)  # type: ignore[attr-defined]
    return found


def _issue_token(project: Project) -> None:
    """A fresh general-agent token for the project's owner; older ones are revoked."""
    for old in (
        ApiToken.objects.for_user(project.owner).active().filter(scope=ApiToken.SCOPE_GENERAL_AGENT)
    ):
        revoke_api_token(old)
    _, raw = create_api_token(project.owner, TOKEN_NAME, scope=ApiToken.SCOPE_GENERAL_AGENT)
    # Written through the ORM on purpose: the name is reserved for users (STARTER_ prefix).
    ProjectSecret.objects.update_or_create(
        project=project, name=TOKEN_SECRET_NAME, defaults={"value": raw}
    )


@transaction.atomic
def ensure_general_agent(user: User) -> Project:
    """The user's general agent, created (and its Sprite provisioned) on first use."""
    project = _own_agents(user).select_for_update().exclude(status=Status.DESTROYED).first()
    if project is not None:
        return project
    project = Project.objects.create(
        owner=user,
        organisation=personal_organisation_of(user),
        kind=Kind.GENERAL_AGENT,
        name=AGENT_NAME,
        description="Works across all of your projects.",
    )
    _issue_token(project)
    actions.provision_on_commit(project)
    return project


def access_is_active(project: Project) -> bool:
    """Whether the agent's token still works (the user may have revoked it)."""
    secret = ProjectSecret.objects.filter(project=project, name=TOKEN_SECRET_NAME).first()
    if secret is None:
        return False
    from accounts.models import hash_token

    return (
        ApiToken.objects.active()
        .filter(user=project.owner, token_hash=hash_token(secret.value))
        .exists()
    )


@transaction.atomic
def renew_access(project: Project) -> None:
    """Give the agent a new token; its bridge gets it without a restart (new commands at
    once, the agent when its current run ends)."""
    if project.kind != Kind.GENERAL_AGENT:
        raise ValueError("only the general agent has an agent token")
    _issue_token(project)
    actions.sync_environment_on_commit(project)
