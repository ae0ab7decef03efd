"""Reading budgets and reading and changing loop guard settings: every entry point calls
these (a budget is changed through ``gateway.budgets``, which tells open workspaces).

An organisation's admins set its monthly budget (never above the operator's cap, ``GatewayPolicy``);
a project's owner sets the project's budget and its guard. Bad values raise a
``ProjectError`` ("invalid", 400) with a sentence a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from gateway.models import GatewayPolicy, OrganisationLimits, ProjectLimits
from projects.errors import ProjectError
from projects.models import Project

# Dollars: a budget is positive and at most this (a typo guard, not a policy).
MAX_BUDGET = Decimal("1000000")
CENTS = Decimal("0.0001")


@dataclass(frozen=True)
class Bounds:
    low: int
    high: int


# The loop guard's settings, each within these (inclusive).
REPEAT_BOUNDS = Bounds(2, 100)
CALL_BOUNDS = Bounds(5, 1000)
MINUTES_BOUNDS = Bounds(1, 1440)


@dataclass(frozen=True)
class GuardSettings:
    enabled: bool
    repeat_limit: int
    call_limit: int
    run_minutes: int


def project_limits(project_id: int) -> ProjectLimits:
    """The project's row, or the defaults (unsaved) when its owner never changed them."""
    row = ProjectLimits.objects.filter(project_id=project_id).first()
    return row if row is not None else ProjectLimits(project_id=project_id)


def guard_settings(project_id: int) -> GuardSettings:
    row = project_limits(project_id)
    return GuardSettings(
        row.guard_enabled, row.guard_repeat_limit, row.guard_call_limit, row.guard_run_minutes
    )


def own_organisation_budget(organisation_id: int) -> Decimal | None:
    """What the organisation's admins set (None: they did not)."""
    row = OrganisationLimits.objects.filter(organisation_id=organisation_id).first()
    return row.monthly_budget if row is not None else None


def organisation_budget(
    organisation_id: int, policy: GatewayPolicy | None = None
) -> Decimal | None:
    """The budget that applies to an organisation: its own or the operator's default, never
    above the operator's cap (None: no limit at all)."""
    policy = policy or GatewayPolicy.current()
    chosen = own_organisation_budget(organisation_id)
    if chosen is None:
        chosen = policy.default_user_monthly_budget
    cap = policy.max_user_monthly_budget
    if cap is None:
        return chosen
    return cap if chosen is None else min(chosen, cap)


def project_budget(project_id: int) -> Decimal | None:
    return project_limits(project_id).monthly_budget


def clean_budget(value: object) -> Decimal | None:
    """A budget from a form or JSON: empty means none; otherwise a positive dollar amount."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ProjectError("A budget is an amount in dollars, such as 25 or 7.50.")
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation as error:
        raise ProjectError("A budget is an amount in dollars, such as 25 or 7.50.") from error
    if not amount.is_finite() or amount <= 0:
        raise ProjectError("A budget must be more than $0 (leave it empty for no budget).")
    if amount > MAX_BUDGET:
        raise ProjectError(f"A budget can be at most ${MAX_BUDGET:,.0f} a month.")
    return amount.quantize(CENTS)


def _bounded(value: object, bounds: Bounds, what: str) -> int:
    if isinstance(value, bool):
        raise ProjectError(f"{what} is a whole number from {bounds.low} to {bounds.high}.")
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as error:
        raise ProjectError(
            f"{what} is a whole number from {bounds.low} to {bounds.high}."
        ) from error
    if isinstance(value, float) and value != number:
        raise ProjectError(f"{what} is a whole number from {bounds.low} to {bounds.high}.")
    if not bounds.low <= number <= bounds.high:
        raise ProjectError(f"{what} must be from {bounds.low} to {bounds.high}.")
    return number


def set_guard(
    project: Project,
    *,
    enabled: object = None,
    repeat_limit: object = None,
    call_limit: object = None,
    run_minutes: object = None,
) -> GuardSettings:
    """Change the project's loop guard; a value left None keeps what it was."""
    row = project_limits(project.pk)
    if enabled is not None:
        if not isinstance(enabled, bool):
            raise ProjectError("Say whether the loop guard is on with true or false.")
        row.guard_enabled = enabled
    if repeat_limit is not None:
        row.guard_repeat_limit = _bounded(repeat_limit, REPEAT_BOUNDS, "The repeat limit")
    if call_limit is not None:
        row.guard_call_limit = _bounded(call_limit, CALL_BOUNDS, "The model call limit")
    if run_minutes is not None:
        row.guard_run_minutes = _bounded(run_minutes, MINUTES_BOUNDS, "The run time limit")
    row.save()
    return guard_settings(project.pk)
