"""Publishing control-plane events (lifecycle progress, status) to a project's viewers.

Everything a browser sees live goes through the project's channel group; the relay
consumer (projects/consumers.py) forwards these messages to its websockets.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from projects.models import Project

logger = logging.getLogger(__name__)


def project_group(public_id: str) -> str:
    return f"project.{public_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def lifecycle_payload(project: Project) -> dict[str, Any]:
    return {
        "public_id": project.public_id,
        "status": project.status,
        "status_label": project.get_status_display(),
        "message": project.status_message,
        "step": project.progress_step,
        "done": project.progress_done,
        "total": project.progress_total,
    }


def broadcast_lifecycle(project: Project) -> None:
    """Tell the project's viewers, and its owner's home screen, where the project is."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "lifecycle.update", "payload": lifecycle_payload(project)}
    try:
        async_to_sync(layer.group_send)(project_group(project.public_id), message)
        async_to_sync(layer.group_send)(user_group(project.owner_id), message)
    except Exception:  # a missing viewer must never fail the lifecycle work itself
        logger.warning("could not broadcast lifecycle of %s", project.public_id, exc_info=True)
