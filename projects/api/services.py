"""The services API: a project's supervised services and cron jobs, their actions, logs and
runs. Each operation finds the caller's project (another person's is a 404) and calls one
function of ``projects.bridge.services``, as the dashboard does."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field as NinjaField
from ninja import Query, Router, Schema

from organisations.roles import Ability
from projects.api.agent import agent_project
from projects.api.schemas import (
    ServiceActionOut,
    ServiceLogOut,
    ServiceOut,
    ServiceRunOut,
    ServiceRunsOut,
    ServicesOut,
)
from projects.bridge import services
from starter.api_errors import SPRITE_ERRORS, responses

router = Router(tags=["services"])


class LogQuery(Schema):
    lines: int = NinjaField(
        services.DEFAULT_LOG_LINES, ge=1, le=services.MAX_LOG_LINES, description="How many."
    )


@router.get(
    "/{project_id}/services",
    response=responses({200: ServicesOut}, *SPRITE_ERRORS),
    summary="List the project's services and cron jobs",
)
def list_services(request: HttpRequest, project_id: str) -> ServicesOut:
    """What the platform supervises in the Sprite, with each one's live status. Changes
    arrive as `service_changed`, `service_removed` and `service_run` events."""
    project = agent_project(request, project_id)
    found = services.list_services(project)
    return ServicesOut(services=[ServiceOut.model_validate(service) for service in found])


@router.get(
    "/{project_id}/services/{name}/logs",
    response=responses({200: ServiceLogOut}, *SPRITE_ERRORS),
    summary="Read the end of a service's log",
)
def service_logs(
    request: HttpRequest, project_id: str, name: str, query: Query[LogQuery]
) -> ServiceLogOut:
    """The last `lines` lines (1 to 1000, default 200) of what the service printed."""
    project = agent_project(request, project_id)
    lines = services.log_tail(project, name, query.lines)
    return ServiceLogOut(service=name, lines=lines)


@router.get(
    "/{project_id}/services/{name}/runs",
    response=responses({200: ServiceRunsOut}, *SPRITE_ERRORS),
    summary="List a cron job's last runs",
)
def service_runs(request: HttpRequest, project_id: str, name: str) -> ServiceRunsOut:
    """Each run's start, end, exit code, trigger and the end of its output, newest first."""
    project = agent_project(request, project_id)
    found = services.runs(project, name)
    return ServiceRunsOut(service=name, runs=[ServiceRunOut.model_validate(run) for run in found])


# Declared last: its path would also match .../logs and .../runs (the first match wins).
@router.post(
    "/{project_id}/services/{name}/{action}",
    response=responses({200: ServiceActionOut}, *SPRITE_ERRORS),
    summary="Start, stop, restart or run a service",
)
def service_action(
    request: HttpRequest, project_id: str, name: str, action: str
) -> ServiceActionOut:
    """`action` is `start`, `stop`, `restart`, or `run` (a cron job, now). An unknown
    service or action is a 404."""
    project = agent_project(request, project_id, Ability.USE)
    service = services.service_action(project, name, action)
    return ServiceActionOut(
        ok=True, service=ServiceOut.model_validate(service) if service else None
    )
