"""The ``sprite`` runner: long-running services recorded here, run by the Sprite itself.

On ``fly`` the Sprite supervises the agent's services (restart with backoff, output kept,
started again after hibernation), but only the Sprites API can define a Sprite service, and
its token must never enter a Sprite. So the bridge keeps the registry as everywhere and, in
this mode (``STARTER_SERVICE_RUNNER=sprite``, set by the fly backend), spawns nothing for a
long-running service: ``start`` returns a placeholder that "runs" until it is stopped. The
control plane reads the registry (``GET /starter/services``) and makes the Sprite's services
match it (projects/sprite/services.py); their real status, pid and log come from the Sprites
API there. Cron runs are not affected: the supervisor always runs them with its local runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from bridge_agent.protocol import SERVICE_RUNNER_SPRITE, SERVICE_RUNNER_VARIABLE
from bridge_agent.services.runner import OutputCallback, ServiceRunner

NOTE = b"runs as a Sprite service: its status and output are the Sprite's (see the dashboard)\n"


class RecordedService:
    """Stands for a Sprite service in the supervisor: no process here, no exit of its own."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return None

    async def wait(self) -> int:
        await self._stopped.wait()
        return 0

    async def stop(self) -> int:
        self._stopped.set()
        return 0


class SpriteRunner:
    async def start(
        self,
        name: str,
        command: str,
        cwd: Path,
        environment: dict[str, str],
        on_output: OutputCallback,
    ) -> RecordedService:
        on_output(NOTE)
        return RecordedService()


def runner_for(environment: Mapping[str, str]) -> ServiceRunner | None:
    """The runner the environment asks for; None: the supervisor's own (local) runner."""
    if environment.get(SERVICE_RUNNER_VARIABLE) == SERVICE_RUNNER_SPRITE:
        return SpriteRunner()
    return None
