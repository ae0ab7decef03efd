"""The environment of every process the bridge starts, and how new secrets reach it.

The bridge starts with the project's secrets and provider keys as environment variables
(``STARTER_SECRET_NAMES`` lists which). When the person changes one, the control plane sends
the whole new set (``POST /starter/environment``): from then on every new process (a pi
process, an exec, a service, a cron run) gets the new values, and each part that keeps
long-lived processes (the sessions, the service supervisor) subscribes to learn it should
restart them when that does not cost anyone their work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from bridge_agent.config import TOKEN_ENV

logger = logging.getLogger("bridge_agent.environment")

SECRET_NAMES_ENV = "STARTER_SECRET_NAMES"  # noqa: S105 (a variable name)

EnvironmentListener = Callable[[], Awaitable[None]]


class SpriteEnvironment:
    def __init__(self, base: Mapping[str, str]) -> None:
        self._variables = dict(base)
        self._listeners: list[EnvironmentListener] = []

    def for_child(self) -> dict[str, str]:
        """What a child process gets: everything but the bridge's own token."""
        return {key: value for key, value in self._variables.items() if key != TOKEN_ENV}

    def secret_names(self) -> list[str]:
        raw = self._variables.get(SECRET_NAMES_ENV, "")
        return sorted(name for name in raw.split(",") if name)

    def replace_secrets(self, variables: Mapping[str, str]) -> list[str]:
        """Make ``variables`` the whole set of secrets; the names whose value changed (added,
        changed or removed), sorted. Names outside the secret set are left alone."""
        old = {name: self._variables.get(name) for name in self.secret_names()}
        for name in old:
            self._variables.pop(name, None)
        self._variables.update(variables)
        self._variables[SECRET_NAMES_ENV] = ",".join(sorted(variables))
        names = set(old) | set(variables)
        return sorted(name for name in names if old.get(name) != variables.get(name))

    def subscribe(self, listener: EnvironmentListener) -> None:
        self._listeners.append(listener)

    async def notify(self) -> None:
        """Tell every subscriber that the values changed; one failing does not stop the rest."""
        for listener in list(self._listeners):
            try:
                await listener()
            except Exception:
                logger.exception("an environment listener failed")
