"""What makes a general agent's bridge different: its role variables (no secrets here)."""

from __future__ import annotations

from django.conf import settings

from projects.models import Kind, Project


def role_environment(project: Project) -> dict[str, str]:
    """STARTER_AGENT_ROLE=general makes the bridge load the general-agent extension;
    STARTER_API_URL is where that extension's tools reach the control plane."""
    if project.kind != Kind.GENERAL_AGENT:
        return {}
    return {"STARTER_AGENT_ROLE": "general", "STARTER_API_URL": settings.SITE_URL}
