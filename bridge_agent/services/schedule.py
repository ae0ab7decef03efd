"""Cron schedules: standard 5-field cron (in UTC) and ``every N s|m|h``.

``every`` counts from the end of the previous wait, so a job never runs twice at once and a
slow run pushes the next one back. 5-field cron fires at the minutes it names; when both
day-of-month and day-of-week are restricted, either one matching is enough (cron's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MIN_EVERY_SECONDS = 5
MAX_EVERY_SECONDS = 366 * 24 * 3600
# How far ``next_after`` looks for a matching minute (a '30 2 31 2 *' never comes).
SEARCH_DAYS = 5 * 366
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_EVERY = re.compile(
    r"^every\s+(\d{1,9})\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)$", re.IGNORECASE
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DAYS = "sun mon tue wed thu fri sat".split()
# (lowest, highest, names) of minute, hour, day of month, month, day of week.
_FIELDS = ((0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 7, _DAYS))


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    every: timedelta | None = None
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()  # 0 = Monday, as datetime.weekday()
    days_restricted: bool = False
    weekdays_restricted: bool = False

    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after ``moment`` (an aware datetime)."""
        if self.every is not None:
            return moment + self.every
        candidate = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + timedelta(days=SEARCH_DAYS)
        while candidate < limit:
            if candidate.month not in self.months:
                candidate = _first_of_next_month(candidate)
            elif not self._day_matches(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
            elif candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
            elif candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
            else:
                return candidate
        raise ScheduleError("This schedule never comes due.")

    def _day_matches(self, moment: datetime) -> bool:
        day = moment.day in self.days
        weekday = moment.weekday() in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day or weekday
        return day and weekday


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0)


def parse_schedule(text: str) -> Schedule:
    """``text`` as a schedule; ``ScheduleError`` says what is wrong with it."""
    stripped = " ".join(text.split())
    every = _EVERY.fullmatch(stripped)
    if every:
        seconds = int(every.group(1)) * _UNIT_SECONDS[every.group(2)[0].lower()]
        if not MIN_EVERY_SECONDS <= seconds <= MAX_EVERY_SECONDS:
            raise ScheduleError(
                f"'every' must be at least {MIN_EVERY_SECONDS} seconds and at most a year."
            )
        return Schedule(every=timedelta(seconds=seconds))
    fields = ALIASES.get(stripped.lower(), stripped).split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f"{text!r} is not a schedule: use 5-field cron ('*/15 * * * *': minute, hour, day"
            " of month, month, day of week; in UTC) or 'every N s|m|h' ('every 10m')."
        )
    parsed = [
        _parse_field(field, low, high, names, text)
        for field, (low, high, names) in zip(fields, _FIELDS, strict=True)
    ]
    # cron's 0 and 7 are Sunday; datetime's Sunday is 6.
    weekdays = frozenset((day - 1) % 7 for day in parsed[4])
    return Schedule(
        minutes=parsed[0],
        hours=parsed[1],
        days=parsed[2],
        months=parsed[3],
        weekdays=weekdays,
        days_restricted=fields[2] != "*",
        weekdays_restricted=fields[4] != "*",
    )


def _parse_field(
    field: str, low: int, high: int, names: list[str] | None, text: str
) -> frozenset[int]:
    values: set[int] = set()
    for part in field.split(","):
        range_part, _, step_part = part.partition("/")
        step = _number(step_part, names=None, text=text) if step_part else 1
        if step < 1:
            raise ScheduleError(f"{text!r}: a step must be at least 1.")
        if range_part == "*":
            first, last = low, high
        elif "-" in range_part:
            start, _, end = range_part.partition("-")
            first, last = _number(start, names, text), _number(end, names, text)
        else:
            first = _number(range_part, names, text)
            last = high if step_part else first
        if not low <= first <= last <= high:
            raise ScheduleError(f"{text!r}: {part!r} is outside {low}-{high}.")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(value: str, names: list[str] | None, text: str) -> int:
    if names is not None and value.lower()[:3] in names and not value.isdigit():
        index = names.index(value.lower()[:3])
        return index + 1 if names is _MONTHS else index
    if not value.isdigit() or len(value) > 2:
        raise ScheduleError(f"{text!r}: {value!r} is not a number of the schedule.")
    return int(value)
