"""The usage section of the settings page, as an inclusion tag so the page's view needs no
change: the person's month, and 30 days by day and by project (drawn by
static/js/pages/usage-charts.js, with the same numbers in tables)."""

from __future__ import annotations

from typing import Any

from django import template

from gateway import usage

register = template.Library()

CHART_DAYS = 30


@register.inclusion_tag("gateway/_usage_section.html")
def usage_section(user: Any, organisation: Any = None) -> dict[str, object]:
    """The person's own calls, or (with ``organisation``) the calls of that organisation
    ``user`` may read: all of them for its admins and owners, else those of the projects
    they can see and their own (``gateway.usage.rows_visible_to``)."""
    if organisation is None:
        base = usage.rows_of(user.pk)
    else:
        base = usage.rows_visible_to(user, [organisation.pk])
    days = usage.daily_of(base, CHART_DAYS)
    first, last = days[0][0], days[-1][0]
    rows = usage.filter_rows(base, usage.UsageFilter(date_from=first, date_to=last))
    projects = usage.grouped(rows, "project")
    per_day = usage.daily_by_project(rows, [day for day, _ in days])
    chart = {
        "days": [day.isoformat() for day, _ in days],
        "tokens": [totals.tokens for _, totals in days],
        "cost": [float(totals.cost) for _, totals in days],
        "projects": [
            {
                "name": group.label,
                "cost": [float(totals.cost) for totals in per_day.get(group.project, [])],
                "tokens": [totals.tokens for totals in per_day.get(group.project, [])],
            }
            for group in projects
        ],
    }
    return {
        "periods": usage.periods_of(base),
        "organisation": organisation,
        "last_30": usage.totals_of(rows),
        "days": [(day, totals) for day, totals in reversed(days) if totals.calls],
        "projects": projects,
        "chart": chart,
    }


@register.filter
def thousands(value: int) -> str:
    """12345 → "12,345", as the workspace's meter writes token counts."""
    return f"{int(value):,}"
