"""The usage API's query and answers (``GET /api/v1/usage``)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import BeforeValidator, ConfigDict, model_validator

from bridge_agent.protocol import SESSION_ID_PATTERN
from gateway.usage import Totals

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    # pydantic would also take "0" or "1700000000" as a day (seconds since 1970).
    if isinstance(value, str) and not _ISO_DAY.match(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


class UsageQuery(Schema):
    """Which of your calls to sum: every filter is optional; ``from``/``to`` are inclusive
    days (UTC)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    project: str | None = Field(
        None, pattern=r"^[a-z0-9]{1,32}$", description="A project's id (destroyed ones too)."
    )
    session: str | None = Field(None, pattern=SESSION_ID_PATTERN, description="A session's id.")
    provider: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    model: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    date_from: IsoDay | None = Field(None, alias="from", description="First day, YYYY-MM-DD.")
    date_to: IsoDay | None = Field(None, alias="to", description="Last day, YYYY-MM-DD.")
    organisation: str | None = Field(
        None,
        pattern=r"^[a-z0-9]{1,32}$",
        description="An organisation's id: only its calls (else every organisation of yours).",
    )
    group_by: Literal["day", "project", "model", "session", "person"] | None = Field(
        None,
        description="Also sum the calls by day, project, model, session or person (`person`: "
        "admins and owners of the `organisation` given only).",
    )

    @model_validator(mode="after")
    def _days_in_order(self) -> UsageQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("'from' must not be after 'to'")
        return self


class TotalsOut(Schema):
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    tokens: int
    cost: str = Field(
        description="US dollars, exact (a decimal string): the sum of the calls with a known "
        "price; see unpriced_calls."
    )
    unpriced_calls: int = Field(
        description='Calls whose model has no price ("price unknown"): not in cost, never '
        "counted as zero."
    )
    cost_label: str = Field(description='For people: "$0.0123", "price unknown", …')

    @classmethod
    def of(cls, totals: Totals) -> TotalsOut:
        return cls(**totals.as_json())


class UsageGroupOut(Schema):
    key: str = Field(description="The day, the project's id, provider/model, or the session's id.")
    label: str
    project: str | None = Field(None, description="The project's id (project and session groups).")
    totals: TotalsOut


class UsageOut(Schema):
    totals: TotalsOut
    group_by: Literal["day", "project", "model", "session", "person"] | None
    groups: list[UsageGroupOut] = Field(description="Empty unless group_by is given.")
