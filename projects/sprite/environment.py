"""What makes a general agent's bridge different: its role variables (no secrets here)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

from projects.models import Kind, Project


def role_environment(project: Project) -> dict[str, str]:
    """STARTER_AGENT_ROLE=general makes the bridge load the general-agent extension;
    STARTER_API_URL is where that extension's tools reach the control plane."""
    if project.kind != Kind.GENERAL_AGENT:
        return {}
    return {"STARTER_AGENT_ROLE": "general", "STARTER_API_URL": settings.SITE_URL}


def role_loopback_ports(project: Project) -> tuple[int, ...]:
    """The general agent's tools call the control plane's API. When the site runs on this
    machine's loopback (development, tests), that one port is the general agent's way to
    it; other Sprites reach nothing of this machine. A public site needs no hole."""
    if project.kind != Kind.GENERAL_AGENT:
        return ()
    parts = urlsplit(settings.SITE_URL)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return ()
    return (parts.port or (443 if parts.scheme == "https" else 80),)
