"""How a project reaches its Sprite: which backend, which credentials, which environment.

The backends in sprites/ take plain values; this module turns a Project (and its owner's
settings) into those values, so nothing below it knows about Django models.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.providers import provider_environment
from accounts.user_settings import custom_provider_environment, pi_models_document, settings_for
from projects.models import Project, ProjectSecret, Status
from projects.sprite.environment import role_environment, role_loopback_ports
from sprites.backends import BridgeEnvironment, SpriteBackend, SpriteError, get_backend

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a backend coroutine from synchronous code (Celery tasks, views, admin actions).

    When the calling thread already runs an event loop (a sync view called from async
    code, or a browser-driving test), the coroutine gets a loop of its own in a helper
    thread instead of failing.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sprite-backend") as executor:
        return executor.submit(asyncio.run, coroutine).result()


def _backend(kind: str, token: str) -> SpriteBackend:
    # Keyed by everything the backend is built from, so a changed setting (a test's data
    # dir, say) never gets a backend built for the old one.
    return _cached_backend(kind, token, str(settings.DATA_DIR), settings.STARTER_SPRITES_API_URL)


@lru_cache(maxsize=64)
def _cached_backend(kind: str, token: str, data_dir: str, api_url: str) -> SpriteBackend:
    if kind == "fly":
        return get_backend("fly", token=token, base_url=api_url)
    return get_backend(
        "local",
        data_dir=Path(data_dir),
        environment_source=bridge_environment_for_sprite,
        isolation=settings.STARTER_SPRITE_ISOLATION,
        loopback_ports=settings.STARTER_SPRITE_LOOPBACK_PORTS,
    )


def _bridge_environment_for_sprite(sprite_name: str) -> BridgeEnvironment:
    project = Project.objects.select_related("owner").filter(sprite_name=sprite_name).first()
    if project is None or not project.bridge_token:
        return BridgeEnvironment(token="", variables={})
    return BridgeEnvironment(
        token=project.bridge_token,
        variables=sprite_environment(project),
        loopback_ports=role_loopback_ports(project),
    )


async def bridge_environment_for_sprite(sprite_name: str) -> BridgeEnvironment:
    """The local backend asks for a Sprite's environment each time it starts the bridge,
    so secrets never need to be kept in a file on disk."""
    return await sync_to_async(_bridge_environment_for_sprite, thread_sensitive=False)(sprite_name)


def local_backend() -> Any:
    """The local backend when it is the configured one (for its supervisor), else None."""
    if settings.STARTER_SPRITES_BACKEND != "local":
        return None
    return _backend("local", "")


def backend_for(project: Project) -> SpriteBackend:
    kind = settings.STARTER_SPRITES_BACKEND
    token = ""
    if kind == "fly":
        # A user's own Sprites token wins; otherwise the platform's.
        token = settings_for(project.owner).sprites_token or settings.STARTER_SPRITES_TOKEN
    elif settings.STARTER_SPRITE_ISOLATION == "single-user":
        _refuse_a_second_user(project)
    return _backend(kind, token)


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


def ensure_bridge_token(project: Project) -> str:
    if not project.bridge_token:
        project.bridge_token = secrets.token_urlsafe(32)
        project.save(update_fields=["bridge_token", "updated_at"])
    return project.bridge_token


def sprite_environment(project: Project) -> dict[str, str]:
    """The environment of the project's bridge (and so of pi and everything it starts).

    Secret values live only here and in the database: never in a file in the Sprite.
    """
    user_settings = settings_for(project.owner)
    environment = provider_environment(user_settings.api_key_map())
    environment.update(custom_provider_environment(project.owner))
    secret_values = dict(ProjectSecret.objects.filter(project=project).values_list("name", "value"))
    environment.update(secret_values)
    # The agent learns the names of the user's secrets; platform-internal ones stay unlisted.
    user_names = sorted(name for name in secret_values if not name.startswith("STARTER_"))
    environment["STARTER_SECRET_NAMES"] = ",".join(user_names)
    environment.update(role_environment(project))
    environment["STARTER_PROJECT_ID"] = project.public_id
    return environment


def pi_settings_document(project: Project) -> bytes:
    """pi's settings.json for the Sprite: the owner's default model. Holds no secret."""
    user_settings = settings_for(project.owner)
    document: dict[str, Any] = {"quietStartup": True, "enableInstallTelemetry": False}
    if user_settings.default_provider:
        document["defaultProvider"] = user_settings.default_provider
    if user_settings.default_model:
        document["defaultModel"] = user_settings.default_model
    if user_settings.default_thinking_level:
        document["defaultThinkingLevel"] = user_settings.default_thinking_level
    return json.dumps(document, indent=2).encode()


def pi_models_json(project: Project) -> bytes:
    """pi's models.json: the owner's custom providers, naming variables instead of keys."""
    return json.dumps(pi_models_document(project.owner), indent=2).encode()
