"""The ledger: one row per model call, written by the gateway from the provider's own report.

``record_call`` is the only writer of ``UsageRecord``. After the row is in, the project's
viewers get a ``gateway.update`` (``publish_usage``) with the fresh totals, so a live meter
shows sums of the ledger and never adds deltas twice.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from gateway import budgets, usage_live
from gateway.calls import CallContext, Usage
from gateway.models import UsageRecord
from gateway.pricing import cost_of, prices_for
from organisations.models import Organisation

logger = logging.getLogger(__name__)


def record_call(
    context: CallContext,
    usage: Usage,
    *,
    model: str,
    duration_ms: int,
    status_code: int,
    complete: bool,
) -> UsageRecord:
    """Write the call's row."""
    model_name = usage.model or model
    fields = dict(
        user_id=context.user_id,
        organisation_public_id=context.organisation_public_id,
        organisation_name=context.organisation_name[:100],
        project_public_id=context.project_public_id,
        project_name=context.project_name,
        session_id=context.session_id[:200],
        provider=context.provider,
        model=model_name[:200],
        input_tokens=usage.input,
        output_tokens=usage.output,
        cache_read_tokens=usage.cache_read,
        cache_write_tokens=usage.cache_write,
        cost=cost_of(usage, prices_for(context.organisation_id, context.provider, model_name)),
        duration_ms=max(0, duration_ms),
        status_code=status_code,
        complete=complete,
    )
    try:
        with transaction.atomic():
            record = UsageRecord.objects.create(
                project_id=context.project_id, organisation_id=context.organisation_id, **fields
            )
            # Foreign keys are checked at commit (deferred); checked here, a missing project
            # fails this savepoint only, even inside a caller's transaction.
            connection.check_constraints(table_names=[UsageRecord._meta.db_table])
    except IntegrityError:
        # The project's (or its organisation's) row was deleted while its call was in flight
        # (an operator's delete; destroying keeps the row), or its person's account. The
        # call still happened and the organisation pays for it: the row keeps the project's
        # and the organisation's ids and names, and no person if theirs is gone.
        if not User.objects.filter(pk=context.user_id).exists():
            fields["user_id"] = None
        record = UsageRecord.objects.create(
            project_id=None,
            organisation_id=Organisation.objects.filter(pk=context.organisation_id)
            .values_list("pk", flat=True)
            .first(),
            **fields,
        )
    transaction.on_commit(lambda: publish_usage(record))
    return record


async def arecord_call(
    context: CallContext,
    usage: Usage,
    *,
    model: str,
    duration_ms: int,
    status_code: int,
    complete: bool,
) -> UsageRecord:
    return await sync_to_async(record_call, thread_sensitive=False)(
        context,
        usage,
        model=model,
        duration_ms=duration_ms,
        status_code=status_code,
        complete=complete,
    )


def publish_usage(record: UsageRecord) -> None:
    """Tell the project's viewers (and the owner's home) the new totals and budget state."""
    usage_live.publish(record)
    budgets.after_call(record)
