"""The control plane's one way to talk to a project's bridge (`/starter/*` in its Sprite).

Dashboard views and the REST API call `call_bridge`; it wakes a sleeping Sprite first,
records activity (so beat does not put a Sprite in use to sleep), and turns every failure
into a BridgeError (defined in `projects.errors`, importable from here too) whose status
and message can be shown to a person as they are.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from django.utils import timezone

from projects.errors import BridgeError, from_sprite_error
from projects.lifecycle import steps as lifecycle
from projects.lifecycle.work_lock import ProjectBusy
from projects.models import Project, Status
from projects.sprite.backend import backend_for, ensure_bridge_token, run
from sprites.backends import BridgeEndpoint, SpriteError

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class BridgeResponse:
    status: int
    body: Any
    content_type: str
    raw: bytes


def ensure_running(project: Project) -> None:
    """Wake a sleeping Sprite inline (a request needs it); refuse any other non-running state."""
    if project.status == Status.SLEEPING:
        try:
            lifecycle.wake(project.pk)
        except ProjectBusy:
            raise BridgeError(
                409, "busy", "The project is waking up; try again in a moment."
            ) from None
        except SpriteError as error:
            raise BridgeError.wrapping(from_sprite_error(error)) from error
        project.refresh_from_db()
    if project.status != Status.RUNNING:
        raise BridgeError(
            409,
            "not_running",
            f"The project is {project.get_status_display().lower()}; "
            "its agent can be reached once it is running.",
        )


def endpoint_for(project: Project) -> BridgeEndpoint:
    try:
        return run(
            backend_for(project).bridge_endpoint(project.sprite_name, ensure_bridge_token(project))
        )
    except SpriteError as error:
        raise BridgeError.wrapping(from_sprite_error(error)) from error


def touch(project: Project) -> None:
    Project.objects.filter(pk=project.pk).update(last_activity_at=timezone.now())


def call_bridge(
    project: Project,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    params: dict[str, str] | None = None,
    timeout: httpx.Timeout = TIMEOUT,
) -> BridgeResponse:
    """One request to the bridge. `path` starts with /starter/."""
    ensure_running(project)
    endpoint = endpoint_for(project)
    touch(project)
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.request(
                method,
                endpoint.base_url + path,
                json=json_body,
                params=params,
                headers=dict(endpoint.headers),
            )
    except httpx.TimeoutException as error:
        raise BridgeError(
            504, "bridge_timeout", "The project's agent did not answer in time."
        ) from error
    except httpx.HTTPError as error:
        logger.info("bridge of %s unreachable: %s", project.public_id, type(error).__name__)
        raise BridgeError(
            502,
            "bridge_unreachable",
            "The project's machine is not answering; try again, or re-bootstrap "
            "it from the project page.",
        ) from error
    content_type = response.headers.get("content-type", "")
    body: Any = None
    if "json" in content_type:
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = None
    if response.status_code >= 400:
        code = body.get("error", "bridge_error") if isinstance(body, dict) else "bridge_error"
        message = body.get("message", "") if isinstance(body, dict) else ""
        status = response.status_code if response.status_code < 500 else 502
        raise BridgeError(status, str(code), str(message or "The agent refused the request."))
    return BridgeResponse(response.status_code, body, content_type, response.content)
