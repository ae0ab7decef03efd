"""``GET /api/v1/usage``: the model calls of the caller's organisations they may read,
summed (the same queries as the settings page, ``gateway.usage``).

Admins and owners read all of an organisation's calls and may group them by person; members
and viewers read the calls of the projects they can see (and their own)."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Query, Router
from ninja.errors import HttpError

from accounts.api_auth import principal_of
from gateway import usage
from gateway.schemas import TotalsOut, UsageGroupOut, UsageOut, UsageQuery
from organisations.access import NO_SUCH_ORGANISATION, organisation_for_user
from organisations.roles import Ability
from starter.api_errors import BASE_ERRORS, responses

router = Router(tags=["usage"])

FILTERS = frozenset(
    {"project", "session", "provider", "model", "from", "to", "group_by", "organisation"}
)


@router.get("", response=responses({200: UsageOut}, *BASE_ERRORS, 404), summary="Model usage")
def get_usage(request: HttpRequest, query: Query[UsageQuery]) -> UsageOut:
    """Tokens and cost of the model calls of your organisations, as the gateway metered
    them, optionally filtered and grouped. Admins and owners see all of an organisation's
    calls (a destroyed project's too) and may group by `person` (with `organisation`);
    members and viewers see the calls of the projects they can see and their own. A token
    limited to one organisation reads only that one."""
    unknown = sorted(set(request.GET) - FILTERS)
    if unknown:
        # A misspelt filter ("form") would otherwise sum everything without a word.
        known = ", ".join(sorted(FILTERS))
        raise HttpError(422, f"Unknown filter {', '.join(unknown)}; the filters are {known}.")
    principal = principal_of(request)
    user = principal.user
    organisation_ids: list[int] | None = None
    if principal.organisation_id is not None:
        organisation_ids = [principal.organisation_id]
    if query.organisation:
        ability = Ability.MANAGE if query.group_by == "person" else Ability.VIEW
        organisation, _ = organisation_for_user(user, query.organisation, ability)
        if organisation_ids is not None and organisation.pk not in organisation_ids:
            raise Http404(NO_SUCH_ORGANISATION)
        organisation_ids = [organisation.pk]
    elif query.group_by == "person":
        raise HttpError(422, "Grouping by person needs an organisation (?organisation=…).")
    rows = usage.filter_rows(
        usage.rows_visible_to(user, organisation_ids),
        usage.UsageFilter(
            project=query.project or "",
            session=query.session or "",
            provider=query.provider or "",
            model=query.model or "",
            date_from=query.date_from,
            date_to=query.date_to,
        ),
    )
    if query.group_by == "person":
        groups = usage.grouped_by_user(rows)
    else:
        groups = usage.grouped(rows, query.group_by) if query.group_by else []
    return UsageOut(
        totals=TotalsOut.of(usage.totals_of(rows)),
        group_by=query.group_by,
        groups=[
            UsageGroupOut(
                key=group.key,
                label=group.label,
                project=group.project or None,
                totals=TotalsOut.of(group.totals),
            )
            for group in groups
        ],
    )
