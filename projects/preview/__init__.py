"""A project's preview: the app the agent builds, served on its own origin
``<public_id>.<STARTER_PREVIEW_DOMAIN>`` so that it can never read the dashboard's cookies.

* ``links.py``: preview host names (``preview_host``, ``public_id_from_host``,
  ``is_preview_host``: the one parser of ``STARTER_PREVIEW_DOMAIN``), and the signed,
  short-lived links and cookies that open a preview for its owner.
* ``proxy.py``: ``PreviewProxy``, the ASGI app ``starter/asgi.py`` sends preview hosts to:
  HTTP and websockets through the project's bridge to its app.
"""
