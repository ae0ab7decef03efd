from __future__ import annotations

from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "organisations"
    verbose_name = "Organisations"

    def ready(self) -> None:
        from organisations import receivers  # noqa: F401  (connects the signal receivers)
