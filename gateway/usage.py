"""Usage totals: the one set of ledger queries that every page, the API, the admin and the
live meter call.

Every total is a sum of ``UsageRecord`` rows (written by the gateway from the provider's
own report), never of bridge events, so a reconnect cannot count a call twice and nothing
from inside a Sprite can change a number. Every query starts from one person's rows
(``rows_of``): a total never mixes in another person's calls. Rows keep their project's
public id and name, so a destroyed project's calls still count for its owner.

A row whose ``cost`` is ``None`` has no known price: totals carry the sum of the known
costs plus how many calls had none ("price unknown"), never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, TypedDict

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from gateway.models import UsageRecord
from organisations.models import Membership
from organisations.roles import Ability, allows

ZERO = Decimal("0")

GroupBy = Literal["day", "project", "model", "session"]
GROUP_BY_CHOICES: tuple[GroupBy, ...] = ("day", "project", "model", "session")


class TotalsJson(TypedDict):
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    tokens: int
    cost: str  # exact, in US dollars: the sum of the calls with a known price
    unpriced_calls: int
    cost_label: str


@dataclass(frozen=True)
class Totals:
    """The sum of some ledger rows."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = ZERO  # the known part only: see ``unpriced_calls``
    unpriced_calls: int = 0  # calls whose model had no price ("price unknown")

    @property
    def tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    @property
    def cost_label(self) -> str:
        """For people: "$0.0123", "price unknown", or "$0.0123 + 2 calls without a price"."""
        if self.calls and self.unpriced_calls == self.calls:
            return "price unknown"
        known = format_cost(self.cost)
        if self.unpriced_calls:
            plural = "call" if self.unpriced_calls == 1 else "calls"
            return f"{known} + {self.unpriced_calls} {plural} without a price"
        return known

    def as_json(self) -> TotalsJson:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "tokens": self.tokens,
            "cost": format_exact(self.cost),
            "unpriced_calls": self.unpriced_calls,
            "cost_label": self.cost_label,
        }


@dataclass(frozen=True)
class Periods:
    """A project's (or a person's) totals for today and for this month."""

    today: Totals
    month: Totals


def format_cost(cost: Decimal) -> str:
    """Dollars with a precision that shows small calls: "$12.35", "$0.0123", "< $0.0001"."""
    if cost == ZERO:
        return "$0.00"
    if cost >= 1:
        return f"${cost.quantize(Decimal('0.01'))}"
    if cost < Decimal("0.0001"):
        return "< $0.0001"
    return f"${cost.quantize(Decimal('0.0001'))}"


def format_exact(cost: Decimal) -> str:
    """The exact sum as a string (no float on the way), without trailing zeros."""
    return f"{cost.normalize():f}"


# -- the queries ----------------------------------------------------------------------------


def rows_of(user_id: int) -> QuerySet[UsageRecord]:
    """The person's own ledger rows: every query below starts here."""
    return UsageRecord.objects.filter(user_id=user_id)


def _aggregates(prefix: str = "sum_", since: datetime | None = None) -> dict[str, Any]:
    """The sums that make a ``Totals``, named ``<prefix><field>`` (a name of its own: an
    aggregate may not share a column's name); with ``since``, only rows from then on."""
    recent = Q(created_at__gte=since) if since is not None else Q()
    return {
        f"{prefix}calls": Count("id", filter=recent),
        f"{prefix}input_tokens": Coalesce(Sum("input_tokens", filter=recent), 0),
        f"{prefix}output_tokens": Coalesce(Sum("output_tokens", filter=recent), 0),
        f"{prefix}cache_read_tokens": Coalesce(Sum("cache_read_tokens", filter=recent), 0),
        f"{prefix}cache_write_tokens": Coalesce(Sum("cache_write_tokens", filter=recent), 0),
        # NULLs are skipped: the known part.
        f"{prefix}cost": Sum("cost", filter=recent),
        f"{prefix}unpriced_calls": Count("id", filter=recent & Q(cost__isnull=True)),
    }


def _totals_from(values: Mapping[str, object], prefix: str = "sum_") -> Totals:
    def number(name: str) -> int:
        value = values.get(prefix + name)
        return int(value) if isinstance(value, int | Decimal) else 0

    cost = values.get(prefix + "cost")
    return Totals(
        calls=number("calls"),
        input_tokens=number("input_tokens"),
        output_tokens=number("output_tokens"),
        cache_read_tokens=number("cache_read_tokens"),
        cache_write_tokens=number("cache_write_tokens"),
        cost=cost if isinstance(cost, Decimal) else ZERO,
        unpriced_calls=number("unpriced_calls"),
    )


def totals_of(rows: QuerySet[UsageRecord]) -> Totals:
    return _totals_from(rows.aggregate(**_aggregates()))


def start_of_day(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def start_of_month(now: datetime | None = None) -> datetime:
    return start_of_day(now).replace(day=1)


def session_totals(user_id: int, project_public_id: str, session_id: str) -> Totals:
    rows = rows_of(user_id).filter(project_public_id=project_public_id, session_id=session_id)
    return totals_of(rows)


def sessions_totals(user_id: int, project_public_id: str) -> dict[str, Totals]:
    """Every session of a project that made a call, by session id (for the session picker)."""
    rows = rows_of(user_id).filter(project_public_id=project_public_id).exclude(session_id="")
    grouped = rows.order_by().values("session_id").annotate(**_aggregates())
    return {str(values["session_id"]): _totals_from(values) for values in grouped}


def periods_of(rows: QuerySet[UsageRecord], now: datetime | None = None) -> Periods:
    """Today's and this month's totals of ``rows``, in one query."""
    day, month = start_of_day(now), start_of_month(now)
    in_month = rows.filter(created_at__gte=month)
    values = in_month.aggregate(**_aggregates(), **_aggregates("today_", since=day))
    return Periods(today=_totals_from(values, "today_"), month=_totals_from(values))


def project_periods(user_id: int, project_public_id: str, now: datetime | None = None) -> Periods:
    return periods_of(rows_of(user_id).filter(project_public_id=project_public_id), now)


def user_periods(user_id: int, now: datetime | None = None) -> Periods:
    return periods_of(rows_of(user_id), now)


def projects_periods(
    user_id: int, project_public_ids: Iterable[str], now: datetime | None = None
) -> dict[str, Periods]:
    """Today and this month for each of the listed projects (the home list), one query."""
    ids = list(project_public_ids)
    day, month = start_of_day(now), start_of_month(now)
    rows = rows_of(user_id).filter(project_public_id__in=ids, created_at__gte=month)
    grouped = (
        rows.order_by()
        .values("project_public_id")
        .annotate(**_aggregates(), **_aggregates("today_", since=day))
    )
    found = {
        str(values["project_public_id"]): Periods(
            today=_totals_from(values, "today_"), month=_totals_from(values)
        )
        for values in grouped
    }
    empty = Periods(Totals(), Totals())
    return {public_id: found.get(public_id, empty) for public_id in ids}


# -- filtered and grouped (the API, the settings page's chart) -------------------------------


@dataclass(frozen=True)
class UsageFilter:
    """Which of the person's rows: every field is optional; dates are inclusive days."""

    project: str = ""
    session: str = ""
    provider: str = ""
    model: str = ""
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class Group:
    """One group of a grouped query: its key (a day, a project, a model or a session)."""

    key: str
    label: str
    totals: Totals
    project: str = ""  # the project's public id (for project and session groups)


def rows_visible_to(
    user: object, organisation_ids: list[int] | None = None
) -> QuerySet[UsageRecord]:
    """The ledger rows ``user`` may read, in their organisations (or only ``organisation_ids``,
    which the caller checked are theirs): all of an organisation's rows for its admins and
    owners (destroyed projects' too); for members and viewers, the rows of the projects they
    can see and their own."""
    memberships = Membership.objects.filter(user_id=getattr(user, "pk", None) or 0)
    if organisation_ids is not None:
        memberships = memberships.filter(organisation_id__in=organisation_ids)
    managed: list[int] = []
    used: list[int] = []
    for organisation_id, role in memberships.values_list("organisation_id", "role"):
        (managed if allows(role, Ability.MANAGE) else used).append(organisation_id)
    visible = Q(organisation_id__in=managed) | Q(
        organisation_id__in=used, project__organisation_id__in=used
    )
    own = Q(organisation_id__in=used, user_id=getattr(user, "pk", None) or 0)
    return UsageRecord.objects.filter(visible | own)


def filtered_rows(user_id: int, usage_filter: UsageFilter) -> QuerySet[UsageRecord]:
    return filter_rows(rows_of(user_id), usage_filter)


def filter_rows(rows: QuerySet[UsageRecord], usage_filter: UsageFilter) -> QuerySet[UsageRecord]:
    if usage_filter.project:
        rows = rows.filter(project_public_id=usage_filter.project)
    if usage_filter.session:
        rows = rows.filter(session_id=usage_filter.session)
    if usage_filter.provider:
        rows = rows.filter(provider=usage_filter.provider)
    if usage_filter.model:
        rows = rows.filter(model=usage_filter.model)
    if usage_filter.date_from is not None:
        rows = rows.filter(created_at__gte=_start_of(usage_filter.date_from))
    if usage_filter.date_to is not None:
        rows = rows.filter(created_at__lt=_start_of(usage_filter.date_to + timedelta(days=1)))
    return rows


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def grouped(rows: QuerySet[UsageRecord], group_by: GroupBy) -> list[Group]:
    """``rows`` summed by day (oldest first), or by project, model or session (costliest
    first)."""
    if group_by == "day":
        by_day = (
            rows.order_by()
            .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
            .values("day")
            .annotate(**_aggregates())
            .order_by("day")
        )
        return [
            Group(key=values["day"].isoformat(), label=values["day"].isoformat(),
                  totals=_totals_from(values))
            for values in by_day
        ]  # fmt: skip
    if group_by == "project":
        fields = ["project_public_id"]
    elif group_by == "model":
        fields = ["provider", "model"]
    else:
        fields = ["project_public_id", "session_id"]
    names = _project_names(rows) if group_by != "model" else {}
    groups = [
        _group(group_by, values, names)
        for values in rows.order_by().values(*fields).annotate(**_aggregates())
    ]
    groups.sort(key=lambda group: (-group.totals.cost, -group.totals.tokens, group.key))
    return groups


def _project_names(rows: QuerySet[UsageRecord]) -> dict[str, str]:
    """Each project's newest name in the ledger (it may have been renamed or destroyed)."""
    newest = (
        rows.order_by("project_public_id", "-created_at")
        .distinct("project_public_id")  # PostgreSQL's DISTINCT ON: one row per project
        .values_list("project_public_id", "project_name")
    )
    return dict(newest)


def _group(group_by: GroupBy, values: Mapping[str, object], names: Mapping[str, str]) -> Group:
    totals = _totals_from(values)
    if group_by == "model":
        key = f"{values['provider']}/{values['model']}"
        return Group(key=key, label=key, totals=totals)
    public_id = str(values["project_public_id"])
    name = names.get(public_id) or public_id
    if group_by == "project":
        return Group(key=public_id, label=name, totals=totals, project=public_id)
    session_id = str(values["session_id"])
    label = f"{name} · {session_id or 'no session'}"
    return Group(key=session_id, label=label, totals=totals, project=public_id)


def daily(user_id: int, days: int = 30, now: datetime | None = None) -> list[tuple[date, Totals]]:
    """The person's totals for each of the last ``days`` days (today included), zeros too."""
    return daily_of(rows_of(user_id), days, now)


def daily_of(
    base: QuerySet[UsageRecord], days: int = 30, now: datetime | None = None
) -> list[tuple[date, Totals]]:
    """``base``'s totals for each of the last ``days`` days (today included), zeros too."""
    today = start_of_day(now).date()
    first = today - timedelta(days=days - 1)
    rows = filter_rows(base, UsageFilter(date_from=first, date_to=today))
    found = {group.key: group.totals for group in grouped(rows, "day")}
    return [
        (day, found.get(day.isoformat(), Totals()))
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]


def grouped_by_user(rows: QuerySet[UsageRecord]) -> list[Group]:
    """``rows`` summed by person, costliest first (for operators: the admin's summary)."""
    by_user = rows.order_by().values("user_id", "user__email").annotate(**_aggregates())
    groups = [
        Group(key=str(values["user_id"]), label=str(values["user__email"] or "A deleted account"),
              totals=_totals_from(values))
        for values in by_user
    ]  # fmt: skip
    groups.sort(key=lambda group: (-group.totals.cost, -group.totals.tokens, group.key))
    return groups


def daily_by_project(rows: QuerySet[UsageRecord], days: list[date]) -> dict[str, list[Totals]]:
    """``rows`` summed by project and day (one query): for each project's public id, its
    totals on each of ``days`` (zeros included)."""
    day_of = TruncDate("created_at", tzinfo=timezone.get_current_timezone())
    grouped_rows = (
        rows.order_by()
        .annotate(day=day_of)
        .values("project_public_id", "day")
        .annotate(**_aggregates())
    )
    found: dict[str, dict[date, Totals]] = {}
    for values in grouped_rows:
        found.setdefault(str(values["project_public_id"]), {})[values["day"]] = _totals_from(values)
    return {
        public_id: [by_day.get(day, Totals()) for day in days]
        for public_id, by_day in found.items()
    }
