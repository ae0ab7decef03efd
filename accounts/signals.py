"""Signals accounts/ sends so that apps which know about Sprites can react.

accounts/ knows neither projects/ nor sprites/ (DESIGN.md), so when a user's provider keys
change it announces it and projects/ re-applies the environment of that user's Sprites.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `user` after the user's provider API keys or Sprites token changed.
user_secrets_changed = Signal()
