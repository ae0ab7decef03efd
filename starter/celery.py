"""The Celery application: Sprite lifecycle work runs here, off the request path."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "starter.settings")

app = Celery("starter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "sleep-idle-projects": {"task": "projects.tasks.sleep_idle_projects", "schedule": 60.0},
    "resume-interrupted-work": {"task": "projects.tasks.resume_interrupted_work", "schedule": 30.0},
    "supervise-local-sprites": {"task": "projects.tasks.supervise_local_sprites", "schedule": 15.0},
}
