"""The channel-layer contract: group names, the messages sent to them, and publishing.

Everything a browser sees live that is not a bridge event goes through a channel group:
``project.<public_id>`` (a project's viewers: the relay's feed in each web process) and
``user.<id>`` (the person's home screen: every member of the project's organisation gets
its projects' updates, whatever their role). The message types that travel there are declared
here: ``lifecycle.update`` (``LifecycleUpdate``, published by the lifecycle steps),
``relay.state`` (``RelayStateMessage``, published by the relay's upstream holder),
``gateway.update`` and ``prompt.author`` (who sent a prompt, so open pages name them at
once). projects/relay/ turns them into websocket frames.
"""

from __future__ import annotations

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from organisations.models import Membership
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


def member_ids_of_project(public_id: str) -> list[int]:
    """The ids of the members of the project's organisation (one query): whose home screens
    show the project."""
    return list(
        Membership.objects.filter(organisation__projects__public_id=public_id).values_list(
            "user_id", flat=True
        )
    )


def broadcast_gateway(public_id: str, owner_id: int, payload: dict[str, object]) -> None:
    """Send a gateway update to the project's viewers and to the home screen of every
    member of its organisation. `owner_id` (the project's creator, or the caller) is no
    longer who hears it: kept so the gateway's callers stay as they are."""
    layer = get_channel_layer()
    if layer is None:
        return
    message: GatewayUpdate = {"type": "gateway.update", "payload": payload}
    try:
        async_to_sync(layer.group_send)(project_group(public_id), message)
        for member_id in member_ids_of_project(public_id):
            async_to_sync(layer.group_send)(user_group(member_id), message)
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
    """Tell the project's viewers, and the home screens of its organisation's members,
    where the project is."""
    layer = get_channel_layer()
    if layer is None:
        return
    message: LifecycleUpdate = {"type": "lifecycle.update", "payload": lifecycle_payload(project)}
    try:
        async_to_sync(layer.group_send)(project_group(project.public_id), message)
        for member_id in member_ids_of_project(project.public_id):
            async_to_sync(layer.group_send)(user_group(member_id), message)
    except Exception:  # a missing viewer must never fail the lifecycle work itself
        logger.warning("could not broadcast lifecycle of %s", project.public_id, exc_info=True)


class PromptAuthorMessage(TypedDict):
    """Who sent a prompt the control plane accepted (projects/prompt_authors.py), for the
    pages that show its session: they put the name on the live message with that text.
    The relay sends it on as ``{"kind": "author", "session_id", "text", "author"}``."""

    type: Literal["prompt.author"]
    session_id: str
    text: str
    author: str


def broadcast_prompt_author(public_id: str, session_id: str, text: str, author: str) -> None:
    layer = get_channel_layer()
    if layer is None or not author:
        return
    message: PromptAuthorMessage = {
        "type": "prompt.author",
        "session_id": session_id,
        "text": text,
        "author": author,
    }
    try:
        async_to_sync(layer.group_send)(project_group(public_id), message)
    except Exception:  # the name shows on the next load of the history anyway
        logger.warning("could not broadcast a prompt's author in %s", public_id, exc_info=True)
