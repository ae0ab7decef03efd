"""The model gateway alone, as its own web process (``gateway.asgi:application``).

The dashboard's process serves the gateway under ``/gateway/`` too (starter/asgi.py), which
is what a public deployment uses. When Sprites run on this machine (the local backend) they
reach only the loopback ports they are given: a gateway on a port of its own lets them reach
the gateway without reaching the dashboard (its pages, API and admin). Set
``STARTER_GATEWAY_URL`` to ``http://127.0.0.1:<port>/gateway`` for the control plane's
processes and run this one on that port (Procfile ``gateway``).
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "starter.settings")
django.setup(set_prefix=False)

from gateway.proxy import gateway_app  # noqa: E402  (needs Django set up)

application = gateway_app
