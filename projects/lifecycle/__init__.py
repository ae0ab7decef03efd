"""The worker side of a Sprite's life: provision, bootstrap, wake, sleep, destroy.

* ``steps.py``: each step, called by the Celery tasks in projects/tasks.py with a project
  id; idempotent, under the project's work lock, ending in the next status or ``error``.
* ``status.py``: the status machine (``transition``: a conditional UPDATE).
* ``work_lock.py``: the per-project Redis lease a worker holds (and renews) during a step.
* ``activity.py``: a person's request that needs the Sprite: ``ensure_running`` (wakes a
  sleeping Sprite inline) and ``touch`` (records activity for the idle sleep).

What a person *asks* for (a button, the API) lives in projects/actions.py, which enqueues
the tasks; progress reaches browsers through projects/broadcast.py.
"""
