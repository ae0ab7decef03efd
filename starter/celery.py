"""The Celery application: Sprite lifecycle work runs here, off the request path."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "starter.settings")

app = Celery("starter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "sleep-idle-projects": {"task": "projects.tasks.sleep_idle_projects", "schedule": 60.0},
    "wake-projects-with-due-jobs": {
        "task": "projects.tasks.wake_projects_with_due_jobs",
        "schedule": 15.0,
    },
    "supervise-local-sprites": {"task": "projects.tasks.supervise_local_sprites", "schedule": 15.0},
}


@app.on_after_configure.connect
def _schedule_watchdog(sender: Celery, **kwargs: Any) -> None:
    """The watchdog's pace is a setting, read once Django's settings are loaded: it runs
    every few seconds, so a step whose worker died is resumed soon after its lease ends."""
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.STARTER_RESUME_INTERVAL_SECONDS),
        sender.signature("projects.tasks.resume_interrupted_work"),
        name="resume-interrupted-work",
    )
