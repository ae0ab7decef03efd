"""Reactions of organisations/ to other apps' signals (connected in OrganisationsConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from organisations.personal import personal_organisation_of


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_every_new_user_a_personal_organisation(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        personal_organisation_of(instance)
