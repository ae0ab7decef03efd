"""Which Sprite backend serves a project, built from the settings by one set of rules.

The backends in sprites/ take plain values; this module turns the settings (and, for the
fly backend, a project owner's own Sprites token) into a backend. Synchronous callers run a
backend call with ``sprites.backends.run_sync``; async callers await it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from organisations.models import Organisation
from projects.models import Project, Status
from projects.sprite.environment import bridge_environment_for_sprite
from sprites.backends import SpriteBackend, SpriteError, get_backend


def configured_backend(token: str = "") -> SpriteBackend:
    """The backend ``STARTER_SPRITES_BACKEND`` names (the web app, workers and the ``sprites``
    command all build it here). For fly, ``token`` (a user's own Sprites token) wins over
    the platform's ``STARTER_SPRITES_TOKEN``; SpriteError when neither is set."""
    kind = settings.STARTER_SPRITES_BACKEND
    token = (token or settings.STARTER_SPRITES_TOKEN) if kind == "fly" else ""
    # Keyed by everything the backend is built from, so a changed setting (a test's data
    # dir, say) never gets a backend built for the old one.
    return _cached_backend(kind, token, str(settings.DATA_DIR), settings.STARTER_SPRITES_API_URL)


@lru_cache(maxsize=64)
def _cached_backend(kind: str, token: str, data_dir: str, api_url: str) -> SpriteBackend:
    if kind == "fly":
        # The source gives exec the secrets, and wake the values to renew the bridge's
        # service with (a secret saved meanwhile reached only the running bridge).
        return get_backend(
            "fly", token=token, base_url=api_url, environment_source=bridge_environment_for_sprite
        )
    return get_backend(
        "local",
        data_dir=Path(data_dir),
        environment_source=bridge_environment_for_sprite,
        isolation=settings.STARTER_SPRITE_ISOLATION,
        loopback_ports=settings.STARTER_SPRITE_LOOPBACK_PORTS,
    )


def local_backend() -> Any:
    """The local backend when it is the configured one (for its supervisor), else None."""
    if settings.STARTER_SPRITES_BACKEND != "local":
        return None
    return configured_backend()


def backend_for(project: Project) -> SpriteBackend:
    if settings.STARTER_SPRITES_BACKEND == "fly":
        # The project's organisation's own Sprites token wins; otherwise the platform's.
        # Read afresh (not the project's cached relation): the token may just have changed.
        token = Organisation.objects.values_list("sprites_token", flat=True).get(
            pk=project.organisation_id
        )
        return configured_backend(token)
    if settings.STARTER_SPRITE_ISOLATION == "single-user":
        _refuse_a_second_user(project)
    return configured_backend()


def _refuse_a_second_user(project: Project) -> None:
    """The single-user development mode keeps Sprites apart from the platform's files but
    not from each other's network: it serves the Sprites of one user only."""
    others = Project.objects.exclude(owner_id=project.owner_id).exclude(
        status__in=[Status.DESTROYED, Status.DESTROYING]
    )
    if others.exists():
        raise SpriteError(
            "This machine runs local Sprites in single-user mode, which isolates one user's"
            " Sprites only, and another user already has projects here. Set"
            " STARTER_SPRITE_ISOLATION=strict (root, bubblewrap, passt and nftables)."
        )


def sprite_name_for(project: Project) -> str:
    return f"starter-{project.public_id}"
