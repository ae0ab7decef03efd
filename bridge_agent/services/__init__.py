"""Services and cron jobs the agent defines, supervised by the bridge (issue 15).

The contract (paths, JSON shapes, statuses, limits) is at the end of ``bridge_agent/protocol.py``.
``spec`` parses what the agent asks for, ``registry`` keeps it in ``~/.starter/services.json``,
``supervisor`` runs it (through a ``runner``), ``logfile`` bounds each one's output, ``store``
mirrors it into inspect.db, ``routes`` and ``unix_socket`` are the two ways in. ``cli`` is the
``starter-service`` command and imports nothing but the standard library.
"""
