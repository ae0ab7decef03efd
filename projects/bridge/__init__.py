"""A project's bridge, over HTTP: the control plane's side of the ``/starter/*`` contract.

* ``client.py``: ``call_bridge`` (one request; wakes a sleeping Sprite through
  projects/lifecycle/activity.py, records activity, turns every failure into a
  ``BridgeError``), ``endpoint_for`` / ``aendpoint_for`` (where the bridge is, sync or async).
* ``agent.py``: the agent commands (prompt, steer, follow-up, sessions, state, history) that
  the dashboard and the REST API share.
* ``events.py``: the one reader of the bridge's event stream (used by the relay and by the
  API's ``/events`` passthrough).

The bridge itself is the separate program in ``bridge_agent/``; the Sprite it runs in is
reached through projects/sprite/.
"""
