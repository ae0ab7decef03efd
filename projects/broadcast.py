"""The channel-layer contract: group names, the messages sent to them, and publishing.

Everything a browser sees live that is not a bridge event goes through a channel group:
``project.<public_id>`` (a project's viewers: the relay's feed in each web process) and
``user.<id>`` (the person's home screen). Two message types travel there, and their shapes
are declared here: ``lifecycle.update`` (``LifecycleUpdate``, published by the lifecycle
steps) and ``relay.state`` (``RelayStateMessage``, published by the relay's upstream
holder). projects/relay/ turns them into websocket frames.
"""

from __future__ import annotations

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from projects.models import Project

logger = logging.getLogger(__name__)


def project_group(public_id: str) -> str:
    return f"project.{public_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class LifecyclePayload(TypedDict):
    """Where a project is in its life (the ``payload`` of a ``lifecycle.update``)."""

    public_id: str
    status: str
    status_label: str
    message: str
    step: str
    done: int
    total: int


class LifecycleUpdate(TypedDict):
    type: Literal["lifecycle.update"]
    payload: LifecyclePayload


# What the relay's ``{"kind": "relay", "state": ...}`` frame says about the upstream.
RelayState = Literal["connected", "upstream_down", "sprite_not_running"]


class RelayStateMessage(TypedDict):
    type: Literal["relay.state"]
    state: RelayState


def relay_state_message(state: RelayState) -> RelayStateMessage:
    return {"type": "relay.state", "state": state}


class GatewayUpdate(TypedDict):
    """What the model gateway tells a project's viewers and its owner's home (issue 16):
    ``payload["kind"]`` is ``"usage"`` (fresh ledger totals after a call, gateway.usage_live)
    or ``"budget"`` (a budget crossed 80 % or 100 %, gateway.budgets). The relay sends it on
    as ``{"kind": "gateway", "payload": ...}``."""

    type: Literal["gateway.update"]
    payload: dict[str, object]


def broadcast_gateway(public_id: str, owner_id: int, payload: dict[str, object]) -> None:
    """Send a gateway update to the project's viewers and to its owner's home screen."""
    layer = get_channel_layer()
    if layer is None:
        return
    message: GatewayUpdate = {"type": "gateway.update", "payload": payload}
    try:
        async_to_sync(layer.group_send)(project_group(public_id), message)
        async_to_sync(layer.group_send)(user_group(owner_id), message)
    except Exception:  # a missing viewer must never fail the call's bookkeeping
        logger.warning("could not broadcast a gateway update of %s", public_id, exc_info=True)


def lifecycle_payload(project: Project) -> LifecyclePayload:
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
    message: LifecycleUpdate = {"type": "lifecycle.update", "payload": lifecycle_payload(project)}
    try:
        async_to_sync(layer.group_send)(project_group(project.public_id), message)
        async_to_sync(layer.group_send)(user_group(project.owner_id), message)
    except Exception:  # a missing viewer must never fail the lifecycle work itself
        logger.warning("could not broadcast lifecycle of %s", project.public_id, exc_info=True)
