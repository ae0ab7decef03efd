"""A project's Sprite through its backend (the plain-value backends live in ``sprites/``).

* ``backend.py``: which backend serves a project (``backend_for``, ``configured_backend``,
  ``local_backend``), built from the settings by one set of rules. Synchronous code runs a
  backend call with ``sprites.backends.run_sync``.
* ``environment.py``: what the bridge starts with: its token, its environment (keys and
  secrets, never written to a file), pi's settings and models documents, the general
  agent's role variables.
* ``files.py``, ``commands.py``, ``checkpoints.py``: reading and writing files, running a
  command, checkpoints, each for a person's request (waking the Sprite when needed).

Moving a Sprite along its life (create, bootstrap, wake, sleep, destroy) is
projects/lifecycle/'s job; talking to the bridge in it is projects/bridge/'s.
"""
