"""Budgets and the loop guard in the API: a project's budget and guard settings, a
person's own monthly budget, and "continue"/"stop" for a run the guard paused.

Every operation calls the same functions as the dashboard (``gateway.limits``,
``gateway.budgets``, ``gateway.run_control``); bad values are a 400 with a sentence.
"""

from __future__ import annotations

from typing import Annotated, Any

from django.http import Http404, HttpRequest
from ninja import Router, Schema
from ninja.responses import Status as Reply
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from accounts.api_auth import principal_of
from gateway import budgets, limits, run_control
from organisations.access import NO_SUCH_ORGANISATION
from organisations.models import Organisation
from organisations.personal import personal_organisation_of
from organisations.roles import Ability
from projects.api.agent import agent_project
from projects.api.schemas import SessionId
from projects.lookup import project_for_principal
from starter.api_errors import BASE_ERRORS, PROJECT_ERRORS, SPRITE_ERRORS, responses

router = Router(tags=["limits"])
user_router = Router(tags=["settings"])


# An amount of dollars as text ("7.50") or a number; null (or left out where allowed): none.
Budget = (
    Annotated[str, Field(pattern=r"^\$?[0-9]{1,7}(\.[0-9]{1,4})?$", examples=["25", "7.50"])]
    | Annotated[float, Field(gt=0, le=1_000_000)]
    | None
)


class GuardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = None
    repeat_limit: StrictInt | None = Field(
        None, description="The same tool call this many times in a row pauses the run (2 to 100)."
    )
    call_limit: StrictInt | None = Field(
        None, description="This many model calls in one run pause it (5 to 1000)."
    )
    run_minutes: StrictInt | None = Field(
        None, description="A run longer than this many minutes is paused (1 to 1440)."
    )


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_budget: Budget = Field(
        None,
        description='Dollars a month for this project; null or "" for none. Left out: unchanged.',
    )
    guard: GuardIn | None = None


class LimitsOut(Schema):
    monthly_budget: str | None
    guard: dict[str, Any]
    state: dict[str, Any] = Field(
        description="`budgets`: each set budget this month (`scope`, `limit`, `spent`, "
        "`percent`, `reached`, `warning`, `unpriced`: calls without a price, not counted); "
        "`reached`: new prompts are refused (402) until a budget is raised or the month turns."
    )


class UserBudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_budget: Budget = Field(
        description="Your personal organisation's dollars a month over all its projects; null "
        "for the platform's "
        "default. Never above the platform's cap (`max_budget`)."
    )


class UserBudgetOut(Schema):
    monthly_budget: str | None
    applied_budget: str | None
    max_budget: str | None
    spent: str
    unpriced: int
    month: str


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: SessionId = Field(description="The session of the paused run (from its card).")


class RunControlOut(Schema):
    ok: bool
    session_id: str
    was_paused: bool


@router.get(
    "/{project_id}/limits",
    response=responses({200: LimitsOut}, *PROJECT_ERRORS),
    summary="The project's budget, loop guard settings and budget state",
)
def get_limits(request: HttpRequest, project_id: str) -> dict[str, Any]:
    return budgets.limits_document(project_for_principal(request, project_id))


@router.patch(
    "/{project_id}/limits",
    response=responses({200: LimitsOut}, *PROJECT_ERRORS, 400),
    summary="Change the project's budget or loop guard",
)
def update_limits(request: HttpRequest, project_id: str, payload: LimitsIn) -> dict[str, Any]:
    """Raising a reached budget lets the agent go on at once (no restart)."""
    project = project_for_principal(request, project_id, Ability.USE)
    if "monthly_budget" in payload.model_fields_set:
        budgets.set_project_budget(project, payload.monthly_budget)
    if payload.guard is not None:
        limits.set_guard(project, **payload.guard.model_dump())
    return budgets.limits_document(project)


@router.post(
    "/{project_id}/guard/continue",
    response=responses({202: RunControlOut}, *SPRITE_ERRORS, 402),
    summary="Continue a run the loop guard paused",
)
def guard_continue(
    request: HttpRequest, project_id: str, payload: SessionIn
) -> Reply[RunControlOut]:
    """Relaxes the guard (limits doubled) for the run it starts by sending "Continue.".
    409 when the session is not paused (already continued or stopped); 402 when a budget
    is reached."""
    project = agent_project(request, project_id, Ability.USE)
    done = run_control.continue_run(project, payload.session_id)
    return Reply(202, RunControlOut(ok=True, **done))


@router.post(
    "/{project_id}/guard/stop",
    response=responses({200: RunControlOut}, *SPRITE_ERRORS),
    summary="Stop a run the loop guard paused",
)
def guard_stop(request: HttpRequest, project_id: str, payload: SessionIn) -> RunControlOut:
    """Aborts whatever the session runs and forgets the pause (`was_paused` says if
    there was one)."""
    project = agent_project(request, project_id, Ability.USE)
    return RunControlOut(ok=True, **run_control.stop_run(project, payload.session_id))


def _personal_organisation(request: HttpRequest) -> Organisation:
    """What the `/settings/budget` alias acts on: the caller's personal organisation (a
    token limited to another organisation finds nothing)."""
    principal = principal_of(request)
    organisation = personal_organisation_of(principal.user)
    if principal.organisation_id is not None and principal.organisation_id != organisation.pk:
        raise Http404(NO_SUCH_ORGANISATION)
    return organisation


@user_router.get(
    "/budget",
    response=responses({200: UserBudgetOut}, *BASE_ERRORS, 404),
    summary="Your personal organisation's monthly budget",
)
def get_user_budget(request: HttpRequest) -> dict[str, Any]:
    """An alias of `GET /organisations/{organisation_id}/budget` for the caller's personal
    organisation (budgets belong to organisations)."""
    return budgets.organisation_budget_document(_personal_organisation(request))


@user_router.put(
    "/budget",
    response=responses({200: UserBudgetOut}, *BASE_ERRORS, 400, 404),
    summary="Set your personal organisation's monthly budget",
)
def set_user_budget(request: HttpRequest, payload: UserBudgetIn) -> dict[str, Any]:
    """An alias of `PUT /organisations/{organisation_id}/budget` for the caller's personal
    organisation. Above the platform's cap is a 400 (`budget_above_cap`)."""
    organisation = _personal_organisation(request)
    budgets.set_organisation_budget(
        organisation, principal_of(request).user, payload.monthly_budget
    )
    return budgets.organisation_budget_document(organisation)
