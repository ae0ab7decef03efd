"""What a refused organisation check raises. Entry points map these in one place each
(starter/api.py for the API; Django's own handlers for pages: Http404 → 404,
PermissionDenied → 403)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from organisations.roles import ARTICLE, Ability, needed_role


class RoleRequired(PermissionDenied):
    """A member whose role is not enough: a 403 whose message names the role needed."""

    def __init__(self, ability: Ability, role: str, organisation_name: str) -> None:
        self.needed = needed_role(ability)
        self.role = role
        self.message = (
            f"This needs the {self.needed.value} role (or higher) in {organisation_name!r}; "
            f"you are {ARTICLE.get(role, 'a ' + role)} there."
        )
        super().__init__(self.message)


class OrganisationError(ValueError):
    """Bad input to an organisation change (a 400 or 409 with this message)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
