"""Monthly budgets: per user and per project (set by the user), the operator's default and
cap (``GatewayPolicy``). (Filled in by the budgets work.)"""

from __future__ import annotations

from gateway.models import UsageRecord


def after_call(record: UsageRecord) -> None:
    """Tell the viewers when this call took a budget past 80 % or 100 %."""
