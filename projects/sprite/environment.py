"""What a project's bridge is started with: its token, its environment, pi's documents.

The environment is built afresh each time the bridge starts (``bridge_environment_for_sprite``
is the local backend's environment source), so secret values live only in the database and
in the bridge's process environment, never in a file in the Sprite. A general agent's bridge
differs only by its role variables (``role_environment``) and, on loopback, the site's port.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.user_settings import settings_for
from bridge_agent.protocol import (
    GATEWAY_MODELS_VARIABLE,
    GATEWAY_TOKEN_VARIABLE,
    GATEWAY_URL_VARIABLE,
)
from gateway import pi_config, tokens
from organisations.models import Organisation
from projects.models import Kind, Project, ProjectSecret
from sprites.backends import BridgeEnvironment


def ensure_bridge_token(project: Project) -> str:
    """The token the bridge demands of every request (made on first use, then kept)."""
    if not project.bridge_token:
        project.bridge_token = secrets.token_urlsafe(32)
        project.save(update_fields=["bridge_token", "updated_at"])
    return project.bridge_token


def sprite_environment(project: Project) -> dict[str, str]:
    """The environment of the project's bridge (and so of pi and everything it starts).

    Secret values live only here and in the database: never in a file in the Sprite. No
    provider key is among them: pi reaches every provider through the model gateway with
    the project's gateway token (``gateway.pi_config``), and the gateway holds the keys.
    """
    environment: dict[str, str] = {}
    secret_values = dict(ProjectSecret.objects.filter(project=project).values_list("name", "value"))
    environment.update(secret_values)
    # The agent learns the names of the user's secrets; platform-internal ones stay unlisted.
    user_names = sorted(name for name in secret_values if not name.startswith("STARTER_"))
    environment["STARTER_SECRET_NAMES"] = ",".join(user_names)
    environment.update(role_environment(project))
    environment["STARTER_PROJECT_ID"] = project.public_id
    environment[GATEWAY_TOKEN_VARIABLE] = tokens.token_for(project)
    environment[GATEWAY_URL_VARIABLE] = pi_config.gateway_url()
    environment[GATEWAY_MODELS_VARIABLE] = pi_config.models_digest(pi_models_json(project))
    return environment


def _bridge_environment_for_sprite(sprite_name: str) -> BridgeEnvironment:
    project = Project.objects.select_related("owner").filter(sprite_name=sprite_name).first()
    if project is None or not project.bridge_token:
        return BridgeEnvironment(token="", variables={})
    return BridgeEnvironment(
        token=project.bridge_token,
        variables=sprite_environment(project),
        loopback_ports=loopback_ports(project),
    )


async def bridge_environment_for_sprite(sprite_name: str) -> BridgeEnvironment:
    """The local backend asks for a Sprite's environment each time it starts the bridge,
    so secrets never need to be kept in a file on disk."""
    return await sync_to_async(_bridge_environment_for_sprite, thread_sensitive=False)(sprite_name)


def pi_settings_document(project: Project) -> bytes:
    """pi's settings.json for the Sprite: the owner's default model. Holds no secret.

    ``cacheWarming`` is off: pi's default (``idle``) keeps provider caches warm with paid
    requests for up to 30 minutes after a run, while nobody uses the agent."""
    user_settings = settings_for(project.owner)
    document: dict[str, Any] = {
        "quietStartup": True,
        "enableInstallTelemetry": False,
        "cacheWarming": "off",
    }
    if user_settings.default_provider:
        document["defaultProvider"] = user_settings.default_provider
    if user_settings.default_model:
        document["defaultModel"] = user_settings.default_model
    if user_settings.default_thinking_level:
        document["defaultThinkingLevel"] = user_settings.default_thinking_level
    return json.dumps(document, indent=2).encode()


def pi_models_json(project: Project) -> bytes:
    """pi's models.json: every provider of the project's organisation, through the gateway
    (no key in it)."""
    # Read afresh (not the project's cached relation): a key or provider may just have changed.
    return pi_config.pi_models_bytes(Organisation.objects.get(pk=project.organisation_id))


# -- the general agent's role (no secrets here) ---------------------------------------------


def role_environment(project: Project) -> dict[str, str]:
    """STARTER_AGENT_ROLE=general makes the bridge load the general-agent extension;
    STARTER_API_URL is where that extension's tools reach the control plane."""
    if project.kind != Kind.GENERAL_AGENT:
        return {}
    return {"STARTER_AGENT_ROLE": "general", "STARTER_API_URL": settings.SITE_URL}


def _loopback_port(url: str) -> int | None:
    """The port of ``url`` when its host is this machine's loopback, else None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return None
    return parts.port or (443 if parts.scheme == "https" else 80)


def loopback_ports(project: Project) -> tuple[int, ...]:
    """The ports of this machine's loopback the project's Sprite may reach (local backend).

    Every project's pi calls the model gateway; when the gateway runs on this machine's
    loopback (development, tests), its port is the Sprite's way to it. The general agent's
    tools also call the control plane's API (``SITE_URL``; usually the same port). Nothing
    else of this machine is reachable; a public gateway or site needs no hole (fly)."""
    urls = [pi_config.gateway_url()]
    if project.kind == Kind.GENERAL_AGENT:
        urls.append(settings.SITE_URL)
    ports = {port for port in map(_loopback_port, urls) if port is not None}
    return tuple(sorted(ports))
