"""``GET /api/v1/usage``: the caller's own model calls, summed (the same queries as the
settings page, ``gateway.usage``)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router
from ninja.errors import HttpError

from accounts.api_auth import principal_of
from gateway import usage
from gateway.schemas import TotalsOut, UsageGroupOut, UsageOut, UsageQuery
from starter.api_errors import BASE_ERRORS, responses

router = Router(tags=["usage"])

FILTERS = frozenset({"project", "session", "provider", "model", "from", "to", "group_by"})


@router.get("", response=responses({200: UsageOut}, *BASE_ERRORS), summary="Your model usage")
def get_usage(request: HttpRequest, query: Query[UsageQuery]) -> UsageOut:
    """Tokens and cost of your model calls, as the gateway metered them, optionally filtered
    and grouped. Only your own calls count; a destroyed project's calls still do."""
    unknown = sorted(set(request.GET) - FILTERS)
    if unknown:
        # A misspelt filter ("form") would otherwise sum everything without a word.
        known = ", ".join(sorted(FILTERS))
        raise HttpError(422, f"Unknown filter {', '.join(unknown)}; the filters are {known}.")
    user = principal_of(request).user
    rows = usage.filtered_rows(
        user.pk,
        usage.UsageFilter(
            project=query.project or "",
            session=query.session or "",
            provider=query.provider or "",
            model=query.model or "",
            date_from=query.date_from,
            date_to=query.date_to,
        ),
    )
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
