"""New secrets for a running bridge, without restarting it (``POST /starter/environment``).

Both backends start the bridge with the project's environment (``bridge_variables``) and hand
a changed one to the running bridge (``hand_over``); the bridge gives new processes the new
values at once and restarts pi only when that costs no work. What the bridge may be handed is
the control plane's set: secrets and provider keys, never the platform's own ``STARTER_*``
settings (``bridge_agent.environment.variable_name_problem`` is the one rule for both sides).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bridge_agent import protocol
from bridge_agent.environment import (
    ENVIRONMENT_NAMES_ENV,
    SECRET_NAMES_ENV,
    default_listed,
    names_in,
    variable_name_problem,
)
from sprites.backends.base import BridgeEndpoint, EnvironmentUpdate, SpriteError

logger = logging.getLogger(__name__)

# The bridge answers once idle sessions' pi restarted (about a second each).
HAND_OVER_TIMEOUT = 120.0


def replaceable(environment: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environment`` a running bridge can be handed: secrets and keys."""
    return {
        name: value for name, value in environment.items() if variable_name_problem(name) is None
    }


def listed_names(environment: Mapping[str, str]) -> list[str]:
    """The names the agent is told about: the environment's own list if it has one."""
    variables = replaceable(environment)
    if SECRET_NAMES_ENV in environment:
        return [name for name in names_in(environment, SECRET_NAMES_ENV) if name in variables]
    return default_listed(variables)


def bridge_variables(environment: Mapping[str, str]) -> dict[str, str]:
    """What the bridge is started with: ``environment`` plus the lists of names that say
    which variables a later update replaces and which the agent is told about."""
    return {
        **environment,
        SECRET_NAMES_ENV: ",".join(listed_names(environment)),
        ENVIRONMENT_NAMES_ENV: ",".join(sorted(replaceable(environment))),
    }


def update_body(environment: Mapping[str, str]) -> dict[str, Any]:
    return {"variables": replaceable(environment), "secret_names": listed_names(environment)}


async def hand_over(
    endpoint: BridgeEndpoint, environment: Mapping[str, str], name: str
) -> EnvironmentUpdate:
    """Send ``environment`` to the running bridge. A bridge too old to take it (404) keeps
    its values until its next start, which has the new ones: nothing is restarted for it."""
    try:
        async with httpx.AsyncClient(timeout=HAND_OVER_TIMEOUT) as client:
            response = await client.post(
                endpoint.base_url + protocol.ENVIRONMENT_PATH,
                json=update_body(environment),
                headers=dict(endpoint.headers),
            )
    except httpx.HTTPError as error:
        raise SpriteError(
            f"Sprite {name!r} did not take the new environment ({type(error).__name__}).",
            retryable=True,
        ) from None
    if response.status_code == 404:
        logger.warning(
            "Sprite %s: its bridge predates environment updates; new values apply at its"
            " next start",
            name,
        )
        return EnvironmentUpdate("next_start")
    if response.status_code != 200:
        # The answer comes from inside the tenant's machine: its text is not shown.
        raise SpriteError(
            f"Sprite {name!r} refused the new environment (HTTP {response.status_code}).",
            retryable=response.status_code >= 500,
        )
    return _parsed(response, name)


def _parsed(response: httpx.Response, name: str) -> EnvironmentUpdate:
    try:
        answer = response.json()
        applied = answer["applied"]
        pending = answer.get("pending_sessions") or []
        names = answer.get("names") or []
        if applied not in ("now", "after_run") or not all(
            isinstance(item, str) for item in [*pending, *names]
        ):
            raise ValueError("unexpected values")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SpriteError(f"Sprite {name!r} gave an unreadable answer to the update.") from None
    return EnvironmentUpdate(applied, tuple(pending[:100]), tuple(names[:600]))
