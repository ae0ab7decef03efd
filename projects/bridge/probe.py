"""What the lifecycle asks a running bridge before it puts the Sprite to sleep.

Not a person's request: no wake, no ``touch`` (asking must not count as use), short
timeouts and bounded answers. Everything read here comes from inside the Sprite, so it is
untrusted: a field of the wrong type, a garbage date or an answer too large is treated as if
the bridge had said nothing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.utils import timezone

from bridge_agent import protocol
from projects.models import Project
from projects.sprite.backend import backend_for
from projects.sprite.environment import ensure_bridge_token
from sprites.backends import SpriteError, run_sync

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# The whole answer, however slowly the bridge drips it: the caller holds the work lock.
PROBE_DEADLINE_SECONDS = 10.0
MAX_ANSWER_BYTES = 512 * 1024
# A cron job further out than this is no reason to remember anything (a wrong clock, or a
# value made up to be stored): the project simply sleeps.
MAX_JOB_HORIZON = timedelta(days=366)


@dataclass(frozen=True)
class AgentActivity:
    answered: bool
    busy: bool = False
    last_event_id: int | None = None


def _get_json(project: Project, path: str) -> Any:
    """The bridge's JSON answer to GET ``path``, or None (no answer, an error status, too
    large, not JSON)."""
    try:
        endpoint = run_sync(
            backend_for(project).bridge_endpoint(project.sprite_name, ensure_bridge_token(project))
        )
        with (
            httpx.Client(timeout=PROBE_TIMEOUT) as client,
            client.stream(
                "GET", endpoint.base_url + path, headers=dict(endpoint.headers)
            ) as answer,
        ):
            if answer.status_code != 200:
                return None
            body = bytearray()
            deadline = time.monotonic() + PROBE_DEADLINE_SECONDS
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES or time.monotonic() > deadline:
                    logger.info(
                        "bridge of %s: %s answer too large or slow", project.public_id, path
                    )
                    return None
        return json.loads(bytes(body))
    except (SpriteError, httpx.HTTPError, ValueError) as error:
        logger.info("bridge of %s: %s unanswered (%s)", project.public_id, path, error)
        return None


def agent_activity(project: Project) -> AgentActivity:
    """Whether any of the project's sessions has a run going (``busy_sessions``; a bridge
    older than that field says ``busy`` for its current session)."""
    state = _get_json(project, protocol.STATE_PATH)
    if not isinstance(state, dict):
        return AgentActivity(answered=False)
    busy_sessions = state.get("busy_sessions")
    if isinstance(busy_sessions, list):
        busy = len(busy_sessions) > 0
    else:
        busy = state.get("busy") is True
    last_event_id = state.get("last_event_id")
    if isinstance(last_event_id, bool) or not isinstance(last_event_id, int):
        last_event_id = None
    return AgentActivity(answered=True, busy=busy, last_event_id=last_event_id)


def parse_job_time(value: object, now: datetime) -> datetime | None:
    """A cron service's ``next_run_at`` as a time to wake at, or None for anything unusable."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None  # a time without its zone means nothing reliable
    if moment > now + MAX_JOB_HORIZON:
        return None
    # Overdue: due now (the bridge runs a missed job once when it starts). A bridge that
    # always says so wakes its project at most once per idle period, like a visit would.
    return max(moment, now)


def next_job_at(project: Project) -> datetime | None:
    """The earliest due time of the project's cron jobs that are meant to run, or None
    (none, or a bridge without the services route or with an unusable answer)."""
    listing = _get_json(project, protocol.SERVICES_PATH)
    services = listing.get("services") if isinstance(listing, dict) else None
    if not isinstance(services, list):
        return None
    now = timezone.now()
    times = []
    for service in services[: protocol.MAX_SERVICES * 4]:
        if not isinstance(service, dict) or service.get("type") != "cron":
            continue
        if service.get("desired", "running") != "running":
            continue
        moment = parse_job_time(service.get("next_run_at"), now)
        if moment is not None:
            times.append(moment)
    return min(times, default=None)
