"""The control plane's one way to talk to a project's bridge (`/starter/*` in its Sprite).

Dashboard views and the REST API call `call_bridge`; it wakes a sleeping Sprite first
(projects.lifecycle.activity), records activity (so beat does not put a Sprite in use to
sleep), and turns every failure into a BridgeError (defined in `projects.errors`,
importable from here too) whose status and message can be shown to a person as they are.
Async code (the relay) asks for the bridge's address with `aendpoint_for`, which awaits the
backend on the caller's loop.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from channels.db import database_sync_to_async

from projects.errors import BridgeError, from_sprite_error
from projects.lifecycle.activity import ensure_running, touch
from projects.models import Project
from projects.sprite.backend import backend_for
from projects.sprite.environment import ensure_bridge_token
from sprites.backends import BridgeEndpoint, SpriteBackend, SpriteError, run_sync

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class BridgeResponse:
    status: int
    body: Any
    content_type: str
    raw: bytes


def endpoint_for(project: Project) -> BridgeEndpoint:
    try:
        return run_sync(
            backend_for(project).bridge_endpoint(project.sprite_name, ensure_bridge_token(project))
        )
    except SpriteError as error:
        raise BridgeError.wrapping(from_sprite_error(error)) from error


def _backend_and_token(project: Project) -> tuple[SpriteBackend, str]:
    return backend_for(project), ensure_bridge_token(project)


async def aendpoint_for(project: Project) -> BridgeEndpoint:
    """``endpoint_for`` for async callers: the database part in a thread, the backend call
    awaited on the caller's loop (no loop of its own in a helper thread)."""
    try:
        backend, token = await database_sync_to_async(_backend_and_token, thread_sensitive=False)(
            project
        )
        return await backend.bridge_endpoint(project.sprite_name, token)
    except SpriteError as error:
        raise BridgeError.wrapping(from_sprite_error(error)) from error


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
