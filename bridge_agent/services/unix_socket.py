"""The service endpoints on a unix socket in the home, for the agent and its scripts.

No token: the socket is the Sprite user's own (mode 0600, in a 0700 directory), and
everything inside the Sprite is the tenant's anyway. Only the service routes are served
there, never the rest of the bridge's API.

Unix socket paths are limited to 107 bytes; a deep home would not fit, so the socket is
bound and reached through ``/proc/self/fd/N/``, a descriptor of its directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from bridge_agent.errors import exception_handlers
from bridge_agent.services.logfile import open_directory
from bridge_agent.services.routes import routes
from bridge_agent.services.supervisor import ServiceSupervisor

logger = logging.getLogger("bridge_agent.services")

CLOSE_TIMEOUT = 2


def bind_unix_socket(path: Path) -> socket.socket:
    """A listening socket at ``path`` (0600), replacing whatever was there."""
    directory = open_directory(path.parent)
    try:
        os.fchmod(directory, 0o700)
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                os.unlink(path.name, dir_fd=directory)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(f"/proc/self/fd/{directory}/{path.name}")
            os.chmod(path.name, 0o600, dir_fd=directory, follow_symlinks=False)
            listener.listen(128)
        except BaseException:
            listener.close()
            raise
    finally:
        os.close(directory)
    listener.setblocking(False)
    return listener


class ServiceSocket:
    def __init__(
        self, path: Path, supervisor: ServiceSupervisor, shutting_down: asyncio.Event
    ) -> None:
        self.path = path
        self.app = Starlette(
            routes=routes,
            exception_handlers=exception_handlers("services socket route", logger),
        )
        self.app.state.services = supervisor
        self.app.state.shutting_down = shutting_down
        self._server: uvicorn.Server | None = None

    async def start(self) -> None:
        try:
            listener = bind_unix_socket(self.path)
        except OSError:
            logger.exception("the services socket %s could not be opened", self.path)
            return
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=CLOSE_TIMEOUT,
            server_header=False,
        )
        config.load()
        server = uvicorn.Server(config)
        # Not serve(): that would take the process's signals from the bridge's own server.
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[listener])
        self._server = server

    async def close(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
