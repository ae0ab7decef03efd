"""Ledger rows for tests, written the way the gateway writes them (``record_call``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from accounts.models import CustomProvider, User
from gateway.calls import CallContext, Upstream, Usage
from gateway.metering import record_call
from gateway.models import UsageRecord
from organisations.models import Organisation
from organisations.personal import personal_organisation_of
from projects.models import Project

# $1 per million input tokens, $2 per million output, $0.50 cache read, $4 cache write.
PRICES = {
    "price_input": Decimal("1"),
    "price_output": Decimal("2"),
    "price_cache_read": Decimal("0.5"),
    "price_cache_write": Decimal("4"),
}


def priced_provider(
    user: User,
    name: str = "metered",
    *,
    prices: bool = True,
    organisation: Organisation | None = None,
) -> CustomProvider:
    """A custom provider of ``organisation`` (default: ``user``'s personal one), with the
    prices above (or none: "price unknown")."""
    provider, _ = CustomProvider.objects.update_or_create(
        organisation=organisation or personal_organisation_of(user),
        name=name,
        defaults={
            "user": user,
            "base_url": "http://127.0.0.1:9/v1",
            "model_ids": ["scripted"],
            **(PRICES if prices else dict.fromkeys(PRICES)),
        },
    )
    return provider


def metered_call(
    project: Project,
    *,
    provider: str = "metered",
    model: str = "scripted",
    session_id: str = "",
    usage: tuple[int, int, int, int] = (1000, 200, 30, 0),
    at: datetime | None = None,
) -> UsageRecord:
    """One model call of ``project``'s owner through ``record_call`` (input, output, cache
    read, cache write tokens), dated ``at`` if given."""
    context = CallContext(
        project_id=project.pk,
        project_public_id=project.public_id,
        project_name=project.name,
        user_id=project.owner_id,
        organisation_id=project.organisation_id,
        organisation_public_id=project.organisation.public_id,
        organisation_name=project.organisation.name,
        provider=provider,
        session_id=session_id,
        upstream=Upstream(provider=provider, api="openai-completions", base_url="", key=""),
    )
    record = record_call(
        context,
        Usage(*usage, model=model),
        model=model,
        duration_ms=12,
        status_code=200,
        complete=True,
    )
    if at is not None:
        UsageRecord.objects.filter(pk=record.pk).update(created_at=at)
        record.refresh_from_db()
    return record
