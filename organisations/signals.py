"""Signals organisations/ sends so that apps which know about Sprites can react.

organisations/ knows neither projects/ nor sprites/ (DESIGN.md), so when an organisation's
provider keys, custom providers or Sprites token change it announces it and projects/
re-applies the environment of that organisation's Sprites.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `organisation_id` after the organisation's provider keys, custom providers or
# Sprites token changed (after the change is committed).
organisation_secrets_changed = Signal()
