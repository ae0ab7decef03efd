"""Reactions of projects/ to signals of other apps."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts.signals import user_secrets_changed
from projects.models import Project, Status


@receiver(user_secrets_changed)
def resync_user_sprites(sender: object, user: Any, **kwargs: object) -> None:
    """Provider keys travel as the bridge's environment: re-apply it on live Sprites."""
    from projects import tasks

    live = Project.objects.for_user(user).filter(status__in=[Status.RUNNING, Status.SLEEPING])
    for project_id in live.values_list("pk", flat=True):
        tasks.sync_project_environment.delay(project_id)
