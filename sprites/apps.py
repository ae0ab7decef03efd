from __future__ import annotations

from django.apps import AppConfig


class SpritesConfig(AppConfig):
    name = "sprites"
    verbose_name = "Sprites"
