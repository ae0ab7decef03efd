"""Idle means idle: what keeps a running project awake besides people's requests.

``last_activity_at`` counts requests (dashboard, API, preview traffic). Before beat's idle
sleep stops a Sprite, it also asks:

* a viewer is connected (``presence``: an open workspace, a followed event stream);
* the agent is running: the bridge says a session is busy (pi between ``agent_start`` and
  ``agent_settled``). The bridge is the tenant's, so its word is bounded: a busy agent
  counts as use only while the bridge's event log moves between two looks (a run that
  makes no event for a whole idle period is stuck, or the bridge lies), and for at most
  STARTER_MAX_BUSY_AWAKE_SECONDS in one stretch. A bridge that does not answer is no reason
  to stay awake.

Whatever counts as use is recorded as activity (``touch``), so the project is looked at
again one idle period later, not on every beat.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone

from projects.bridge.probe import AgentActivity
from projects.lifecycle.presence import has_viewers
from projects.models import Project
from starter.redis import redis_client

logger = logging.getLogger(__name__)


def idle_cutoff() -> timedelta:
    return timedelta(seconds=settings.STARTER_IDLE_SLEEP_SECONDS)


def untouched_for_idle_period(project: Project) -> bool:
    """From the database as it is now (a request may have come since the row was read)."""
    cutoff = timezone.now() - idle_cutoff()
    return Project.objects.filter(pk=project.pk, last_activity_at__lt=cutoff).exists()


def _busy_key(project: Project) -> str:
    return f"{settings.STARTER_REDIS_PREFIX}:idle-busy:{project.pk}"


def busy_counts_as_use(project: Project, activity: AgentActivity) -> bool:
    """Whether the bridge's "busy" is believed this time (see the module docstring)."""
    key = _busy_key(project)
    client = redis_client()
    try:
        if not activity.busy:
            client.delete(key)
            return False
        raw = client.get(key)
        previous = json.loads(raw) if raw else None
        now = time.time()
        if isinstance(previous, dict) and previous.get("last_event_id") == activity.last_event_id:
            logger.info("project %s: busy without a new event; may sleep", project.public_id)
            return False
        busy_since = previous.get("busy_since", now) if isinstance(previous, dict) else now
        if now - float(busy_since) > settings.STARTER_MAX_BUSY_AWAKE_SECONDS:
            logger.warning("project %s: busy for too long; may sleep", project.public_id)
            return False
        record = {"last_event_id": activity.last_event_id, "busy_since": busy_since}
        # Kept for a few idle periods: the next look, one period later, compares with it.
        client.set(key, json.dumps(record), ex=3 * settings.STARTER_IDLE_SLEEP_SECONDS + 600)
        return True
    except (redis.RedisError, ValueError, TypeError) as error:
        # Without the record the bound cannot be kept: believe the bridge this once.
        logger.warning("project %s: busy record unusable (%s)", project.public_id, error)
        return activity.busy


def viewers_present(project: Project) -> bool:
    return has_viewers(project.public_id)
