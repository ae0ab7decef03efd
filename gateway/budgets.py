"""Monthly budgets (calendar month, UTC): per organisation and per project, from the ledger
only.

Spend is the sum of ``UsageRecord.cost`` this month: an organisation's over all its rows (a
destroyed project's rows too), a project's by its public id. Calls without a known price
count nothing and are reported apart ("N calls without a price are not counted").

A budget is *reached* when the next call would cross it: ``spent >= limit``, or ``spent +
estimate > limit`` where the estimate is the cost of the project's most recent priced call.
The rule is deterministic: with calls of X each and a budget of 2.5·X, two calls go out and
the third is refused before the provider sees it. The same rule refuses calls at the gateway
(``refusal_for``) and new prompts (``ensure_can_prompt``), so the page, the API and the
gateway agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from gateway import limits
from gateway.calls import CallContext, Refusal
from gateway.models import ZERO, GatewayPolicy, OrganisationLimits, ProjectLimits, UsageRecord
from organisations import audit
from organisations.models import AuditAction, Organisation
from projects.broadcast import broadcast_gateway
from projects.errors import ProjectError
from projects.models import Project

logger = logging.getLogger(__name__)

Scope = Literal["project", "organisation"]
WARNING_FRACTION = Decimal("0.8")
# This only bounds the work of one change (an organisation may have many projects).
MAX_ANNOUNCED = 100


@dataclass(frozen=True)
class BudgetState:
    """One budget this month, from the control plane's own ledger (never from events)."""

    scope: Scope
    limit: Decimal
    spent: Decimal
    estimate: Decimal  # what the next call is expected to cost
    unpriced: int  # calls this month without a price (not counted)
    month: str  # "YYYY-MM"

    @property
    def fraction(self) -> Decimal:
        return self.spent / self.limit if self.limit > 0 else Decimal("1")

    @property
    def reached(self) -> bool:
        return self.spent >= self.limit or self.spent + self.estimate > self.limit

    @property
    def warning(self) -> bool:
        return self.fraction >= WARNING_FRACTION

    def as_dict(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "limit": f"{self.limit:.2f}",
            "spent": f"{self.spent:.4f}",
            "percent": int(min(self.fraction * 100, Decimal(999))),
            "reached": self.reached,
            "warning": self.warning,
            "unpriced": self.unpriced,
            "month": self.month,
        }


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _spend(rows: Q, since: datetime) -> tuple[Decimal, int]:
    totals = UsageRecord.objects.filter(rows, created_at__gte=since).aggregate(
        spent=Sum("cost"), unpriced=Count("id", filter=Q(cost__isnull=True))
    )
    return totals["spent"] or ZERO, totals["unpriced"] or 0


def estimate_for(project_public_id: str) -> Decimal:
    """The cost of this project's most recent priced call (0 before its first)."""
    last = (
        UsageRecord.objects.filter(project_public_id=project_public_id, cost__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("cost", flat=True)
        .first()
    )
    return last or ZERO


def budget_states(
    project_id: int, project_public_id: str, organisation_id: int, now: datetime | None = None
) -> list[BudgetState]:
    """The project's and its organisation's budgets (only those that are set)."""
    since = month_start(now)
    month = f"{since:%Y-%m}"
    estimate = estimate_for(project_public_id)
    states: list[BudgetState] = []
    project_limit = limits.project_budget(project_id)
    if project_limit is not None:
        spent, unpriced = _spend(Q(project_public_id=project_public_id), since)
        states.append(BudgetState("project", project_limit, spent, estimate, unpriced, month))
    organisation_limit = limits.organisation_budget(organisation_id)
    if organisation_limit is not None:
        spent, unpriced = _spend(Q(organisation_id=organisation_id), since)
        states.append(
            BudgetState("organisation", organisation_limit, spent, estimate, unpriced, month)
        )
    return states


def states_of(project: Project) -> list[BudgetState]:
    return budget_states(project.pk, project.public_id, project.organisation_id)


def first_reached(states: list[BudgetState]) -> BudgetState | None:
    return next((state for state in states if state.reached), None)


def describe(state: BudgetState) -> str:
    whose = "this project's" if state.scope == "project" else "the organisation's"
    return (
        f"Starter gateway: out of budget: {whose} monthly budget of ${state.limit:,.2f} is "
        f"reached (${state.spent:,.2f} spent in {state.month}). Raise the budget to go on."
    )


def refusal_for(context: CallContext) -> Refusal | None:
    """The gateway's 402 when this call would cross a budget (None: it may go)."""
    states = budget_states(context.project_id, context.project_public_id, context.organisation_id)
    state = first_reached(states)
    if state is None:
        return None
    return Refusal(
        status=402,
        code="budget_reached",
        message=describe(state),
        details={
            "scope": state.scope,
            "spent": f"{state.spent:.2f}",
            "limit": f"{state.limit:.2f}",
            "month": state.month,
        },
    )


def ensure_can_prompt(project: Project) -> None:
    """Refuse a new message (prompt, steer, follow-up) while a budget is reached (402)."""
    state = first_reached(states_of(project))
    if state is not None:
        raise ProjectError(describe(state), "budget_reached")


def payload_of(states: list[BudgetState]) -> dict[str, object]:
    """What the workspace shows (``{"kind": "budget", ...}``): every set budget, and
    whether any is reached (the composer is disabled then)."""
    return {
        "kind": "budget",
        "budgets": [state.as_dict() for state in states],
        "reached": any(state.reached for state in states),
        "warning": any(state.warning for state in states),
    }


def announce(project: Project) -> None:
    """Send the project's budget state to its viewers (after a budget changed)."""
    broadcast_gateway(project.public_id, project.owner_id, payload_of(states_of(project)))


def announce_for_organisation(organisation_id: int) -> None:
    """After an organisation's budget changed: every one of its projects' viewers."""
    for project in Project.objects.filter(organisation_id=organisation_id)[:MAX_ANNOUNCED]:
        announce(project)


def _crossed(before: Decimal, after: Decimal, limit: Decimal) -> bool:
    return any(before < limit * mark <= after for mark in (WARNING_FRACTION, Decimal(1)))


def after_call(record: UsageRecord) -> None:
    """Tell the viewers when this call took a budget past 80 % or 100 % (or made the next
    call one that would cross it)."""
    try:
        _announce_crossing(record)
    except Exception:  # the call is done and in the ledger: telling viewers must not fail it
        logger.exception("could not announce the budget state after call %s", record.pk)


def _announce_crossing(record: UsageRecord) -> None:
    if not record.cost or record.project_id is None:
        return
    project = Project.objects.filter(pk=record.project_id).first()
    if project is None:
        return
    states = states_of(project)
    crossed = any(_crossed(state.spent - record.cost, state.spent, state.limit) for state in states)
    if crossed or any(state.reached for state in states):
        broadcast_gateway(project.public_id, project.owner_id, payload_of(states))


def limits_document(project: Project) -> dict[str, object]:
    """A project's budget, guard settings and budget state, for the pages and the API."""
    row = limits.project_limits(project.pk)
    return {
        "monthly_budget": None if row.monthly_budget is None else f"{row.monthly_budget:.2f}",
        "guard": {
            "enabled": row.guard_enabled,
            "repeat_limit": row.guard_repeat_limit,
            "call_limit": row.guard_call_limit,
            "run_minutes": row.guard_run_minutes,
        },
        "state": payload_of(states_of(project)),
    }


def organisation_budget_document(organisation: Organisation) -> dict[str, object]:
    """An organisation's own budget, the one that applies, and the operator's cap. (The
    caller checked the reader may manage the organisation.)"""
    policy = GatewayPolicy.current()
    own = limits.own_organisation_budget(organisation.pk)
    applied = limits.organisation_budget(organisation.pk, policy)
    cap = policy.max_user_monthly_budget
    since = month_start()
    spent, unpriced = _spend(Q(organisation_id=organisation.pk), since)
    return {
        "organisation": organisation.public_id,
        "organisation_name": organisation.name,
        "monthly_budget": None if own is None else f"{own:.2f}",
        "applied_budget": None if applied is None else f"{applied:.2f}",
        "max_budget": None if cap is None else f"{cap:.2f}",
        "spent": f"{spent:.4f}",
        "unpriced": unpriced,
        "month": f"{since:%Y-%m}",
    }


def _amount_text(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


@transaction.atomic
def set_organisation_budget(
    organisation: Organisation, actor: object | None, value: object
) -> Decimal | None:
    """Set (or clear, with None/"") an organisation's monthly budget; refuses above the cap.
    The caller checked ``actor`` may manage the organisation; the change is audited."""
    amount = limits.clean_budget(value)
    cap = GatewayPolicy.current().max_user_monthly_budget
    if amount is not None and cap is not None and amount > cap:
        raise ProjectError(
            f"The platform allows at most ${cap:,.2f} a month; choose that or less.",
            "budget_above_cap",
        )
    old = limits.own_organisation_budget(organisation.pk)
    OrganisationLimits.objects.update_or_create(
        organisation=organisation, defaults={"monthly_budget": amount}
    )
    if old != amount:
        audit.record(
            organisation.pk,
            actor,
            AuditAction.BUDGET_CHANGED,
            "monthly budget",
            old=_amount_text(old),
            new=_amount_text(amount),
        )
    organisation_id = organisation.pk
    transaction.on_commit(lambda: announce_for_organisation(organisation_id))
    return amount


def set_project_budget(project: Project, value: object) -> Decimal | None:
    amount = limits.clean_budget(value)
    ProjectLimits.objects.update_or_create(project=project, defaults={"monthly_budget": amount})
    # Open workspaces re-read the state: a raised budget unlocks their composers at once.
    transaction.on_commit(lambda: announce(project))
    return amount
