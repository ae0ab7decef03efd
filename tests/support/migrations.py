"""Moving a test database through its migrations (the django-test-migrations pattern,
without the package): back to an older state, where the historical models are used to
write data as an older version would have, then forward to the latest.

Only for tests marked ``django_db(transaction=True)``: migrations run DDL and must commit.
Whoever goes back must come forward again (``migrate_to_latest`` in a ``finally``), or the
next tests find old tables."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

Target = tuple[str, str | None]


def migrate_to(targets: list[Target]) -> Any:
    """Migrate to ``targets`` (an app's migration name, or None for before its first) and
    return the historical app registry of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)  # type: ignore[arg-type]
    executor.loader.build_graph()
    # An app taken back to before its first migration has no state to read.
    nodes = [(app, name) for app, name in targets if name is not None]
    return executor.loader.project_state(nodes).apps


def migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
