"""Every scoped lookup of a project: for a signed-in person (pages, fragments), for an API
caller (token or session), for a websocket consumer and for the preview proxy.

All of them go through ``Project.objects.for_user`` (membership of the project's
organisation) and ``organisations.access.require`` (what the member's role allows): a
non-member finds nothing, so another organisation's project looks exactly like one that
does not exist (404); a member whose role is not enough gets a 403 naming the role needed.
The found project carries the caller's role as ``project.member_role``.
"""

from __future__ import annotations

from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpRequest

from accounts.api_auth import principal_of
from organisations.access import NO_SUCH_ORGANISATION, organisation_for_user, require, role_of
from organisations.models import Membership, Organisation
from organisations.roles import Ability, allows
from projects.models import Kind, Project
from projects.public_ids import looks_like_public_id

NO_SUCH_PROJECT = "No such project."


def find_project_for_user(
    user: object, public_id: str, organisation_id: int | None = None
) -> Project | None:
    """The project (with its owner and organisation loaded, and the user's role as
    ``member_role``) if the user belongs to its organisation, else None; any user-like
    object, an anonymous one or None finds nothing. `organisation_id` limits the search to
    one organisation (an API token limited to it)."""
    role = Membership.objects.filter(
        organisation_id=OuterRef("organisation_id"), user_id=getattr(user, "pk", None) or 0
    ).values("role")[:1]
    found = (
        Project.objects.for_user(user)
        .select_related("owner", "organisation")
        .filter(public_id=public_id)
        # A general agent is personal: only its own user finds it, whoever else shares
        # its organisation (projects.general_agent).
        .exclude(Q(kind=Kind.GENERAL_AGENT) & ~Q(owner_id=getattr(user, "pk", None) or 0))
        .annotate(member_role=Subquery(role))
    )
    if organisation_id is not None:
        found = found.filter(organisation_id=organisation_id)
    return found.first()


def get_project_for_user(
    user: object,
    public_id: str,
    ability: Ability = Ability.VIEW,
    organisation_id: int | None = None,
) -> Project:
    """The project if the user's role allows `ability` in it; else 404 (not a member, or
    no such project) or ``RoleRequired`` (403)."""
    project = find_project_for_user(user, public_id, organisation_id)
    if project is None:
        raise Http404(NO_SUCH_PROJECT)
    require(project.member_role, ability, project.organisation.name)  # type: ignore[attr-defined]
    return project


def can_delete(project: Project, user: object) -> bool:
    """Whether `user` may delete `project` (found through the lookups above, so with its
    ``member_role``): its creator with the member role (USE), anyone else needs MANAGE
    (an admin or owner of the organisation). A creator who has since become a viewer
    cannot: the role decides first."""
    role = getattr(project, "member_role", None)
    if project.owner_id == getattr(user, "pk", None):
        return allows(role, Ability.USE)
    return allows(role, Ability.MANAGE)


def check_delete(project: Project, user: object) -> None:
    """Raise RoleRequired unless `user` may delete `project` (see `can_delete`)."""
    if not can_delete(project, user):
        creator = project.owner_id == getattr(user, "pk", None)
        require(
            getattr(project, "member_role", None),
            Ability.USE if creator else Ability.MANAGE,
            project.organisation.name,
        )


def project_to_delete(user: object, public_id: str, organisation_id: int | None = None) -> Project:
    """The project if `user` may delete it (see `can_delete`); else 404 or RoleRequired."""
    project = get_project_for_user(user, public_id, Ability.VIEW, organisation_id)
    check_delete(project, user)
    return project


def ability_of(request: HttpRequest) -> Ability:
    """For a view that reads on GET and acts on any other method (a list that a POST
    adds to): VIEW for a safe method, USE otherwise."""
    return Ability.VIEW if request.method in ("GET", "HEAD", "OPTIONS") else Ability.USE


def project_for_principal(
    request: HttpRequest, project_id: str, ability: Ability = Ability.VIEW
) -> Project:
    """The API caller's project if its role allows `ability` (a malformed id is a 404
    before any query; a token limited to one organisation finds nothing elsewhere)."""
    if not looks_like_public_id(project_id):
        raise Http404(NO_SUCH_PROJECT)
    principal = principal_of(request)
    return get_project_for_user(principal.user, project_id, ability, principal.organisation_id)


def organisation_for_principal(
    request: HttpRequest, public_id: str | None, ability: Ability = Ability.VIEW
) -> Organisation | None:
    """The organisation an API caller names (its role must allow `ability`), or, when it
    names none, the one its token is limited to (None: no limit). A token limited to one
    organisation finds no other (404)."""
    principal = principal_of(request)
    limited = principal.organisation_id
    if public_id is None:
        if limited is None:
            return None
        organisation = Organisation.objects.get(pk=limited)
        require(role_of(principal.user, limited), ability, organisation.name)
        return organisation
    organisation, _ = organisation_for_user(principal.user, public_id, ability)
    if limited is not None and organisation.pk != limited:
        raise Http404(NO_SUCH_ORGANISATION)
    return organisation
