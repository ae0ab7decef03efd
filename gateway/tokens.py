"""A project's gateway token: what pi in its Sprite presents instead of a provider key.

One active token per project, minted on first use and kept (the Sprite's environment is
rebuilt at every bridge start, so the value is stored encrypted); revoking it cuts the
Sprite off at once, and the next environment sync hands the Sprite a new one
(``projects.actions.rotate_gateway_token``). Destroying
the project deletes its tokens.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from bridge_agent.protocol import GATEWAY_TOKEN_PREFIX
from gateway.models import GatewayToken
from projects.models import Project, Status


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def token_for(project: Project) -> str:
    """The project's active token (made now if it has none)."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    current = GatewayToken.objects.active().filter(project=project).first()
    if current is not None:
        return current.token
    value = GATEWAY_TOKEN_PREFIX + secrets.token_urlsafe(32)
    GatewayToken.objects.create(project=project, token=value, token_hash=digest(value))
    return value


def revoke(project: Project) -> int:
    """Revoke every active token of the project; the number revoked."""
    return GatewayToken.objects.active().filter(project=project).update(revoked_at=timezone.now())


def resolve(token: str) -> GatewayToken | None:
    """The active token row (with its project, owner and organisation) for a presented
    value, or None.

    A project being destroyed is cut off at once, before its Sprite is gone and its tokens
    are deleted (``lifecycle.steps.destroy``)."""
    if not token.startswith(GATEWAY_TOKEN_PREFIX) or len(token) > 200:
        return None
    return (
        GatewayToken.objects.active()
        .select_related("project", "project__owner", "project__organisation")
        .filter(token_hash=digest(token))
        .exclude(project__status__in=[Status.DESTROYING, Status.DESTROYED])
        .first()
    )
