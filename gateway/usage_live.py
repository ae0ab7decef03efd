"""Live usage for the project's viewers: after each ledger row, the fresh totals.

(Filled in by the usage views: a ``gateway.update`` with ``kind: "usage"`` through
``projects.broadcast.broadcast_gateway``.)
"""

from __future__ import annotations

from gateway.models import UsageRecord


def publish(record: UsageRecord) -> None:
    """Send the session's and the project's totals after ``record`` was written."""
