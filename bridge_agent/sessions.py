"""Chat sessions: one pi process per live session, started, resumed and stopped on demand.

The ``SessionManager`` owns every ``PiProcess`` and the reaper task. A session is known by
pi's session id; its history lives in pi's session file, so a stopped session (idle, crashed,
or the bridge restarted) resumes from that file with ``--session``. A session whose file was
never written (pi writes lazily, once the first message is sent) has nothing to resume and is simply
forgotten when its process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bridge_agent import protocol
from bridge_agent.app_target import AppTarget
from bridge_agent.concurrency import watched_task
from bridge_agent.config import BridgeConfig
from bridge_agent.environment import SpriteEnvironment
from bridge_agent.errors import ApiError
from bridge_agent.event_log import EventLog
from bridge_agent.gateway_refusals import refusal_of
from bridge_agent.inspect_db import SCHEMA, SCHEMA_NOTES
from bridge_agent.live_session import LiveSession, empty_queue, queued_texts
from bridge_agent.pi_events import chat_messages, translate_pi_event
from bridge_agent.pi_process import (
    PiError,
    PiExited,
    PiLaunch,
    PiProcess,
    node_problem,
)
from bridge_agent.pi_settings import save_defaults
from bridge_agent.runs import end_open_run, end_open_runs
from bridge_agent.services.paths import with_service_command
from bridge_agent.session_archive import (
    archive_session_file,
    describe_archived,
    list_archived,
    restore_archived_file,
)
from bridge_agent.session_files import SessionFiles
from bridge_agent.session_names import clean_session_name
from bridge_agent.slash_commands import (
    RELOAD_COMMAND,
    listed_commands,
    resource_folders,
    resources_signature,
)

logger = logging.getLogger("bridge_agent.sessions")


# Why a session's pi was restarted for new environment values (session_ended/started).
ENVIRONMENT_RESTART = "environment"
# How long a command waits for the other commands of a pi that must restart for new
# environment values (they are short: queries, not runs).
STALE_PI_WAIT = 5.0


class SessionError(ApiError):
    """A command that cannot be carried out; each subclass names its status and code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(self.status, self.code, message)


class UnknownSession(SessionError):
    status = 404
    code = "unknown_session"


class SessionBusy(SessionError):
    status = 409
    code = "busy"


class SessionExists(SessionError):
    status = 409
    code = "session_exists"


class NothingToCompact(SessionError):
    """pi >= 1.0 refuses to compact a session that fits its kept window, or one compacted
    since its last message; the message is pi's reason."""

    status = 409
    code = "nothing_to_compact"


# pi's answers to `compact` when there is nothing to summarise (pi 1.6 wording).
NOTHING_TO_COMPACT = ("Nothing to compact", "Already compacted")


class AgentUnavailable(SessionError):
    status = 503
    code = "agent_unavailable"


SettledListener = Callable[[LiveSession], None]


class SessionManager:
    def __init__(
        self,
        config: BridgeConfig,
        log: EventLog,
        app_target: AppTarget,
        environment: SpriteEnvironment | None = None,
    ) -> None:
        self.config = config
        self.log = log
        # Where every pi process's environment comes from (new secrets included).
        self.environment = environment or SpriteEnvironment(config.env)
        # Called when a session's run has settled (pi will do nothing more by itself).
        self.on_settled: SettledListener | None = None
        self.files = SessionFiles(config.session_dir)
        self.app_target = app_target
        self.live: dict[str, LiveSession] = {}
        self._by_process: dict[int, LiveSession] = {}
        self.current_id: str | None = None
        self._start_locks: dict[str, asyncio.Lock] = {}
        self._current_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """End the runs a killed bridge left open, then continue the most recent session
        (a waking Sprite picks up where it stopped)."""
        for ended in end_open_runs(self.log, "bridge_restarted"):
            logger.warning(
                "session %s: its run was going when the bridge last stopped; ended it as"
                " interrupted (event %s)",
                ended.session_id,
                ended.id,
            )
            # The page shows errors as notes: say why the output stopped mid-sentence.
            self.log.append(
                protocol.EVENT_ERROR,
                {"source": "bridge", "message": ended.data["message"]},
                ended.session_id,
            )
        self.config.session_dir.mkdir(parents=True, exist_ok=True)
        self.config.agent_dir.mkdir(parents=True, exist_ok=True)
        recent = self.files.most_recent()
        self.current_id = recent.id if recent else None
        self._tasks.append(
            watched_task(self._reap_idle(), name="session-reaper", logger=logger, forever=True)
        )
        if self.config.prewarm:
            self._tasks.append(
                watched_task(self._prewarm(), name="session-prewarm", logger=logger, forever=False)
            )

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            # A task that died was logged when it did (watched_task); shutdown goes on.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(
            *(self._stop(live, "shutdown") for live in list(self.live.values())),
            return_exceptions=True,
        )

    # -- commands --------------------------------------------------------------------------

    async def prompt(
        self, session_id: str | None, message: str, images: list[Any] | None = None
    ) -> tuple[LiveSession, protocol.PromptDisposition]:
        """Start a run; answers the session and what pi did with the prompt."""
        live = await self.session(session_id)
        await live.wait_settling()
        if live.busy:
            raise SessionBusy(
                f"Session {live.session_id} is still working. Send the message to "
                "/starter/steer to redirect the agent now, or to /starter/follow-up to queue "
                "it for when the current run ends."
            )
        command: dict[str, Any] = {"type": "prompt", "message": message}
        if images:
            command["images"] = images
        return live, await self._send_run_command(live, command)

    async def queue_message(
        self,
        session_id: str | None,
        message: str,
        behaviour: protocol.StreamingBehavior,
        images: list[Any] | None,
    ) -> tuple[LiveSession, protocol.PromptDisposition]:
        """Steer or follow up. pi queues it while a run is going and runs it when idle."""
        live = await self.session(session_id)
        command: dict[str, Any] = {
            "type": "prompt",
            "message": message,
            "streamingBehavior": behaviour,
        }
        if images:
            command["images"] = images
        return live, await self._send_run_command(live, command)

    async def clear_queue(self, session_id: str | None) -> tuple[str | None, dict[str, list[str]]]:
        """Take back the messages waiting in pi's queue: ``{"steering", "followUp"}`` texts.

        A session whose pi is not running has nothing queued, so it is not started for this.
        """
        wanted = session_id or self.current_id
        live = self._alive(wanted)
        if live is None:
            if session_id is not None and self.files.find(session_id) is None:
                raise UnknownSession(
                    f"There is no session {session_id!r}; see /starter/sessions for the list."
                )
            return wanted, empty_queue()
        data = await self._command(live, {"type": "clear_queue"})
        return live.session_id, {
            "steering": queued_texts(data.get("steering")),
            "followUp": queued_texts(data.get("followUp")),
        }

    async def rename(self, session_id: str | None, name: str) -> LiveSession:
        """Give the session a display name (pi records it in the session file)."""
        live = await self.session(session_id)
        await self._command(live, {"type": "set_session_name", "name": name})
        live.name = name
        return live

    async def delete(self, session_id: str) -> dict[str, Any]:
        """Archive a session (``session_archive``): its pi stops, its file moves to the
        archive folder, and it leaves every list. A session running a prompt is refused
        (409); the current session hands over to the most recent other one (or, with none
        left, to a new one the next command starts). Answers ``{"session_id",
        "archived_as", "current"}`` and writes ``session_deleted`` for other readers."""
        # The start lock keeps a command from resuming the session while its file moves.
        async with self._start_locks.setdefault(session_id, asyncio.Lock()):
            live = self._alive(session_id)
            if live is not None:
                await live.wait_settling()
                if live.busy:
                    raise SessionBusy(
                        f"Session {session_id} is running a prompt; stop it or wait for it to "
                        "finish before deleting it."
                    )
            summary = self.files.find(session_id)
            if summary is None and live is None:
                raise UnknownSession(
                    f"There is no session {session_id!r}; see /starter/sessions for the list."
                )
            if live is not None:
                # Stopped first: pi appends to its file, and would write it again after a move.
                await self._stop(live, "deleted")
            archived: str | None = None
            if summary is not None:
                archived = await asyncio.to_thread(
                    archive_session_file,
                    self.config.home,
                    self.config.session_dir,
                    summary.path,
                )
            if self.current_id == session_id or self.current_id is None:
                recent = self.files.most_recent()
                self.current_id = recent.id if recent else None
        self._start_locks.pop(session_id, None)
        self.log.append(
            protocol.EVENT_SESSION_DELETED,
            {"archived_as": archived, "current": self.current_id},
            session_id,
        )
        return {"session_id": session_id, "archived_as": archived, "current": self.current_id}

    def archived(self) -> list[dict[str, Any]]:
        """The archived sessions (read-only; their names are whatever the Sprite wrote)."""
        return list_archived(self.config.home, self.config.session_dir)

    async def restore(self, archived_file: str) -> dict[str, Any]:
        """Bring an archived session back (``session_archive.restore_archived_file``): its
        file returns to pi's folder and the session to every list. 409 when a session with
        its id is listed (a copy restored or written since). It becomes current only when no
        session is. Answers ``{"session_id", "restored_as", "current"}`` and writes
        ``session_restored`` for other readers."""
        home, folder = self.config.home, self.config.session_dir
        entry = await asyncio.to_thread(describe_archived, home, folder, archived_file)
        session_id = str(entry["id"])
        # The start lock: no command may start this id while its file comes back.
        async with self._start_locks.setdefault(session_id, asyncio.Lock()):
            if self.files.find(session_id) is not None or self._alive(session_id) is not None:
                raise SessionExists(
                    f"Session {session_id} is listed already; delete that one first to restore "
                    "this copy."
                )
            restored = await asyncio.to_thread(restore_archived_file, home, folder, archived_file)
            if self.current_id is None:
                self.current_id = session_id
        self._start_locks.pop(session_id, None)
        self.log.append(
            protocol.EVENT_SESSION_RESTORED,
            {"restored_as": restored, "archived_file": archived_file},
            session_id,
        )
        return {"session_id": session_id, "restored_as": restored, "current": self.current_id}

    async def abort(self, session_id: str | None) -> LiveSession:
        live = await self.session(session_id)
        await self._command(live, {"type": "abort"})
        return live

    async def new_session(self, name: str | None = None) -> LiveSession:
        live = await self._launch(None, reason="new")
        self.current_id = live.session_id
        if name:
            # Over RPC rather than pi's --name flag: a name is free text, never an argument.
            await self.rename(live.session_id, name)
        return live

    async def switch(self, session_id: str) -> LiveSession:
        live = await self.session(session_id)
        self.current_id = live.session_id
        return live

    async def compact(self, session_id: str | None, instructions: str | None) -> dict[str, Any]:
        live = await self.session(session_id)
        await live.wait_settling()
        if live.busy:
            raise SessionBusy(
                f"Session {live.session_id} is working; abort it or wait before compacting."
            )
        command: dict[str, Any] = {"type": "compact"}
        if instructions:
            command["customInstructions"] = instructions
        try:
            return await self._command(live, command, answer_within=protocol.COMPACT_TIMEOUT)
        except PiError as error:
            if error.message.startswith(NOTHING_TO_COMPACT):
                raise NothingToCompact(error.message) from error
            raise SessionError(f"Compaction failed: {error.message}") from error

    async def commands(self, session_id: str | None) -> tuple[LiveSession, list[dict[str, Any]]]:
        """The session's slash commands, after pi re-read templates and skills that changed
        since it last read them (only while idle: pi cannot reload during a run)."""
        live = await self.session(session_id)
        now = resources_signature(self._resource_folders())
        if now != live.resources and not live.busy and live.commands_in_flight == 0:
            try:
                await self._command(live, {"type": "prompt", "message": "/" + RELOAD_COMMAND})
                live.resources = now
            except PiError as error:
                # The old list is still right for what pi runs; the next listing tries again.
                logger.warning("session %s: reloading resources failed: %s", live.session_id, error)
        data = await self._command(live, {"type": "get_commands"})
        return live, listed_commands(data.get("commands"))

    def _resource_folders(self) -> tuple[Path, ...]:
        # pi's `~` is $HOME, which in a Sprite is the home the bridge serves.
        user_home = Path(self.config.env.get("HOME") or self.config.home)
        return resource_folders(user_home, self.config.agent_dir)

    async def messages(self, session_id: str | None) -> tuple[LiveSession, list[Any]]:
        live = await self.session(session_id)
        data = await self._command(live, {"type": "get_messages"})
        return live, chat_messages(data.get("messages"))

    async def state(self, session_id: str | None) -> dict[str, Any]:
        """The session's state; a stopped session is described without starting pi.

        Reading state does not count as activity, so a dashboard polling it does not keep an
        idle session's process alive.
        """
        wanted = session_id or self.current_id
        live = self._alive(wanted)
        if live is None:
            if session_id is not None and self.files.find(session_id) is None:
                raise UnknownSession(
                    f"There is no session {session_id!r}; see /starter/sessions for the list."
                )
            return {"session_id": wanted, "live": False, "busy": False, "current": True}
        try:
            data = await live.process.request({"type": "get_state"})
            levels = await self._thinking_levels(live)
        except (PiExited, TimeoutError) as error:
            raise AgentUnavailable(
                f"The agent for session {live.session_id} did not answer."
            ) from error
        return {
            "session_id": live.session_id,
            "live": True,
            "current": live.session_id == self.current_id,
            "busy": live.busy,
            "model": data.get("model"),
            "thinking_level": data.get("thinkingLevel"),
            "is_streaming": data.get("isStreaming"),
            "is_compacting": data.get("isCompacting"),
            # pi's messageCount includes its system records; the file's count does not (and
            # a session with no file yet has no message).
            "message_count": self._chat_message_count(live.session_id),
            "pending_message_count": data.get("pendingMessageCount"),
            "session_name": clean_session_name(data.get("sessionName")) or None,
            # What the session's model supports (pi clamps any other level to these).
            "thinking_levels": levels,
            "retrying": live.retrying,
            "queue": live.queue,
        }

    @staticmethod
    async def _thinking_levels(live: LiveSession) -> list[str]:
        """The levels the session's model takes (``["off"]`` for a model that cannot reason)."""
        try:
            data = await live.process.request({"type": "get_available_thinking_levels"})
        except PiError:
            return []
        levels = data.get("levels")
        if not isinstance(levels, list):
            return []
        return [level for level in levels if level in protocol.THINKING_LEVELS]

    def _chat_message_count(self, session_id: str) -> int:
        summary = self.files.find(session_id)
        return summary.message_count if summary is not None else 0

    async def configure(
        self, session_id: str | None, model: tuple[str, str] | None, thinking_level: str | None
    ) -> LiveSession:
        live = await self.session(session_id)
        if model is not None:
            provider, model_id = model
            try:
                await self._command(
                    live, {"type": "set_model", "provider": provider, "modelId": model_id}
                )
            except PiError as error:
                raise SessionError(
                    f"pi cannot use model {provider}/{model_id}: {error.message}"
                ) from error
        if thinking_level is not None:
            await self._command(live, {"type": "set_thinking_level", "level": thinking_level})
        save_defaults(
            self.config.agent_dir / "settings.json", model=model, thinking_level=thinking_level
        )
        return live

    def list(self) -> list[dict[str, Any]]:
        """Sessions from pi's files, plus live ones whose file pi has not written yet."""
        listed: list[dict[str, Any]] = []
        seen: set[str] = set()
        for summary in self.files.list():
            seen.add(summary.id)
            listed.append(self._describe(summary.id, summary.as_json()))
        for session_id in self.live:
            if session_id not in seen:
                listed.append(
                    self._describe(
                        session_id,
                        {
                            "id": session_id,
                            "name": self.live[session_id].name,
                            "created": None,
                            "last_activity": None,
                            "message_count": 0,
                        },
                    )
                )
        return listed

    def trace_path(self, session_id: str) -> Path:
        summary = self.files.find(session_id)
        if summary is None:
            raise UnknownSession(f"No session file for {session_id!r}; see /starter/sessions.")
        return summary.path

    async def request(
        self, live: LiveSession, command: dict[str, Any], answer_within: float = 30.0
    ) -> dict[str, Any]:
        """One RPC command to the session's pi; a dead or silent pi is ``AgentUnavailable``,
        pi's refusal is ``PiError`` (for modules that extend the commands, like branches)."""
        return await self._command(live, command, answer_within=answer_within)

    def moved_to(self, live: LiveSession, session_file: Path | None, session_id: str) -> None:
        """pi moved ``live``'s process to another session (``clone``): file it under the new
        id, make that the current session, and tell readers the old one is no longer live."""
        old_id = live.session_id
        self.live.pop(old_id, None)
        live.session_id = session_id
        live.session_file = session_file
        self.live[session_id] = live
        self.current_id = session_id
        self.log.append(protocol.EVENT_SESSION_ENDED, {"reason": "cloned"}, old_id)
        self.log.append(
            protocol.EVENT_SESSION_STARTED,
            {"reason": "clone", "pid": live.process.pid, "cloned_from": old_id},
            session_id,
        )

    # -- session processes -----------------------------------------------------------------

    async def session(self, session_id: str | None) -> LiveSession:
        """The live session for ``session_id`` (default: the current one), started if needed.

        A command never gets a pi that misses new environment values while it could have
        one: if values came while it was busy or starting, and it is idle now, it restarts."""
        live = await self._session(session_id)
        if live.stale_environment:
            # Another command may still wait for this pi's answer (the bridge's own
            # start-up queries, a state read): those end within moments, so wait for them
            # rather than hand this command a pi without the new values. A run is another
            # matter: it keeps its pi until it settles.
            deadline = asyncio.get_running_loop().time() + STALE_PI_WAIT
            while not await self.refresh_environment(live, announce=True):
                if live.busy or asyncio.get_running_loop().time() >= deadline:
                    break
                await asyncio.sleep(0.05)
            live = await self._session(session_id)
        return live

    async def _session(self, session_id: str | None) -> LiveSession:
        live = self._alive(session_id or self.current_id)
        if live is not None:
            live.touch()
            return live
        if session_id is not None:
            return await self._resume(session_id)
        async with self._current_lock:
            wanted = self.current_id
            if wanted is not None:
                try:
                    return await self._resume(wanted)
                except UnknownSession:
                    # The current session never got a file; a fresh one is equivalent.
                    pass
            live = await self._launch(None, reason="new")
            self.current_id = live.session_id
            return live

    def _alive(self, session_id: str | None) -> LiveSession | None:
        live = self.live.get(session_id) if session_id else None
        return live if live is not None and live.process.alive else None

    async def _resume(self, session_id: str, reason: str = "resumed") -> LiveSession:
        async with self._start_locks.setdefault(session_id, asyncio.Lock()):
            live = self._alive(session_id)
            if live is not None:
                return live
            summary = self.files.find(session_id)
            if summary is None:
                raise UnknownSession(
                    f"There is no session {session_id!r}; see /starter/sessions for the list."
                )
            return await self._launch(summary.path, reason=reason)

    async def _launch(self, session_file: Path | None, reason: str) -> LiveSession:
        if self._closing:
            raise AgentUnavailable("The bridge is shutting down.")
        generation = self.environment.generation
        launch = PiLaunch(
            binary=self.config.pi_binary,
            home=self.config.home,
            agent_dir=self.config.agent_dir,
            session_dir=self.config.session_dir,
            extension=self.config.extension_path,
            extra_extensions=self.config.extension_paths[1:],
            env=self._pi_environment(),
            session_file=session_file,
            node=self.config.node_binary,
            compile_cache=self.config.state_dir / "node-compile-cache",
        )
        process = PiProcess(launch, on_event=self._handle_pi_event, on_exit=self._handle_pi_exit)
        # Read before pi starts: a change during its start is picked up by the next listing.
        resources = resources_signature(self._resource_folders())
        try:
            state = await process.start()
        except (OSError, PiExited, PiError, TimeoutError) as error:
            detail = " | ".join(process.stderr_tail) or str(error) or type(error).__name__
            problem = await asyncio.to_thread(node_problem, launch)
            if problem is not None:
                detail = f"{problem} ({detail})"
            self.log.append(
                protocol.EVENT_ERROR, {"message": f"pi did not start: {detail}", "source": "bridge"}
            )
            raise AgentUnavailable(f"The agent could not start: {detail}") from error
        session_id = str(state.get("sessionId"))
        file_value = state.get("sessionFile")
        live = LiveSession(
            session_id=session_id,
            process=process,
            session_file=Path(file_value) if file_value else session_file,
            resources=resources,
            name=clean_session_name(state.get("sessionName")) or None,
        )
        # New values that came while pi was starting did not reach it: it restarts for them
        # once idle, like a session that was busy then (bridge_agent/environment_restarts.py).
        live.stale_environment.update(self.environment.changed_since(generation))
        self.live[session_id] = live
        self._by_process[id(process)] = live
        self.log.append(
            protocol.EVENT_SESSION_STARTED,
            {"reason": reason, "pid": process.pid, "model": state.get("model")},
            session_id,
        )
        return live

    def _pi_environment(self) -> dict[str, str]:
        env = self.environment.for_child()
        env.update(
            {
                "STARTER_HOME": str(self.config.home),
                "STARTER_APP_PORT": str(self.app_target.port),
                "STARTER_BRIDGE_PORT": str(self.config.port),
                "STARTER_INSPECT_DB": str(self.config.inspect_db_path),
                "STARTER_INSPECT_SCHEMA": SCHEMA,
                "STARTER_INSPECT_NOTES": SCHEMA_NOTES,
            }
        )
        # ``starter-service`` on PATH, and the socket the extension's service tools use.
        return with_service_command(self.config, env)

    def restartable(self, live: LiveSession) -> bool:
        """Whether stopping ``live``'s pi now costs nothing: it is still the session's live
        process, no run is going and no command waits for an answer."""
        return (
            self.live.get(live.session_id) is live
            and live.process.alive
            and not live.busy
            and live.commands_in_flight == 0
        )

    async def refresh_environment(self, live: LiveSession, announce: bool) -> bool:
        """Restart ``live``'s pi if it waits for new environment values and nothing is going
        on in it; whether it no longer waits. ``announce``: write the session's own
        ``environment_changed`` (the values apply now, where they waited for a run)."""
        if self.live.get(live.session_id) is not live or not live.stale_environment:
            return True  # stopped or crashed meanwhile: its next process has the new values
        if not self.restartable(live):
            return False
        names = sorted(live.stale_environment)
        try:
            await self.restart(live, ENVIRONMENT_RESTART)
        except SessionError as error:
            # Stopped, then pi would not start: the next command starts it (with the new
            # values), as after any failed start.
            logger.warning("session %s: restarting pi failed: %s", live.session_id, error.message)
        if announce:
            self.log.append(
                protocol.EVENT_ENVIRONMENT_CHANGED,
                {"names": names, "applied": "now", "pending_sessions": []},
                live.session_id,
            )
        return True

    async def restart(self, live: LiveSession, reason: str) -> None:
        """Stop ``live``'s pi and start it again on the same session (a new environment).

        Check ``restartable`` first, with no ``await`` in between. A session pi never wrote
        a file for has nothing to resume: it is replaced by a fresh one if it was current.
        """
        was_current = self.current_id == live.session_id
        await self._stop(live, reason)
        if self.files.find(live.session_id) is not None:
            await self._resume(live.session_id, reason=reason)
        elif was_current:
            async with self._current_lock:
                if self.current_id is None:
                    self.current_id = (await self._launch(None, reason=reason)).session_id

    async def _stop(self, live: LiveSession, reason: str) -> None:
        self.live.pop(live.session_id, None)
        self._by_process.pop(id(live.process), None)
        await live.process.stop()
        if self.current_id == live.session_id and self.files.find(live.session_id) is None:
            self.current_id = None
        end_open_run(self.log, live.session_id, "bridge_stopped")
        self.log.append(protocol.EVENT_SESSION_ENDED, {"reason": reason}, live.session_id)

    async def _send_run_command(
        self, live: LiveSession, command: dict[str, Any]
    ) -> protocol.PromptDisposition:
        """Send a prompt (plain, steer or follow-up); answers pi's disposition.

        The session counts as busy while the command waits for its answer: pi answers before
        its ``agent_start``, and a fast run may even settle before this coroutine resumes.
        """
        started_before, settled_before = live.runs_started, live.settles
        live.run_commands_pending += 1
        try:
            data = await self._command(live, command)
        except PiError as error:
            if "already processing" in error.message:
                raise SessionBusy(
                    f"Session {live.session_id} is still working; use /starter/steer or "
                    "/starter/follow-up."
                ) from error
            raise SessionError(error.message) from error
        finally:
            live.run_commands_pending -= 1
        disposition = data.get("disposition")
        if disposition not in protocol.PROMPT_DISPOSITIONS:
            # pi before 0.99 answered without one; a successful prompt started or queued a run.
            disposition = "started"
        if (
            disposition == "started"
            and live.runs_started == started_before
            and live.settles == settled_before
        ):
            # The run's agent_start is on its way (pi answers first); busy from now on.
            live.running = True
        # "handled": no run started for it (an extension command took the prompt), so the
        # session stays as it was; "queued": the running run takes it.
        return cast(protocol.PromptDisposition, disposition)

    async def _command(
        self, live: LiveSession, command: dict[str, Any], answer_within: float = 30.0
    ) -> dict[str, Any]:
        live.commands_in_flight += 1
        live.touch()
        try:
            return await live.process.request(command, answer_within=answer_within)
        except PiExited as error:
            raise AgentUnavailable(
                f"The agent process for session {live.session_id} stopped; retry the command "
                "to restart it."
            ) from error
        except TimeoutError as error:
            raise AgentUnavailable(
                f"The agent did not answer {command.get('type')!r} in {answer_within:.0f} s."
            ) from error
        finally:
            live.commands_in_flight -= 1
            live.touch()

    # -- pi callbacks ----------------------------------------------------------------------

    def _handle_pi_event(self, process: PiProcess, line: dict[str, Any]) -> None:
        live = self._by_process.get(id(process))
        session_id = live.session_id if live else None
        if live is not None:
            live.touch()
            live.observe(line)
            if line.get("type") == protocol.EVENT_AGENT_SETTLED and self.on_settled is not None:
                self.on_settled(live)
        event = translate_pi_event(line)
        if event is None:
            return
        if event.type == protocol.EVENT_APP_PORT:
            # The extension saw a dev server's address; the target records the event.
            port = event.data.get("port")
            if isinstance(port, int):
                detail = {key: event.data[key] for key in ("line", "tool") if key in event.data}
                self.app_target.set(port, "extension", detail, session_id)
            return
        self.log.append(event.type, event.data, session_id)
        refused = refusal_of(event.type, event.data)
        if refused is not None:
            self.log.append(
                protocol.EVENT_GATEWAY_REFUSED, {"session_id": session_id, **refused}, session_id
            )

    def _handle_pi_exit(self, process: PiProcess, returncode: int | None) -> None:
        live = self._by_process.pop(id(process), None)
        if live is None or self._closing:
            return
        self.live.pop(live.session_id, None)
        if self.current_id == live.session_id and self.files.find(live.session_id) is None:
            self.current_id = None
        end_open_run(self.log, live.session_id, "agent_exited")
        self.log.append(
            protocol.EVENT_ERROR,
            {
                "source": "pi",
                "message": (
                    f"The agent process exited unexpectedly (code {returncode}); it restarts "
                    "with the next command and keeps the session's history."
                ),
                "exit_code": returncode,
                "stderr_tail": list(process.stderr_tail)[-10:],
            },
            live.session_id,
        )
        self.log.append(protocol.EVENT_SESSION_ENDED, {"reason": "crashed"}, live.session_id)

    # -- background tasks ------------------------------------------------------------------

    async def _prewarm(self) -> None:
        try:
            await self.session(None)
        except SessionError as error:
            logger.warning("could not start the current session: %s", error.message)

    async def _reap_idle(self) -> None:
        interval = max(0.2, min(self.config.idle_timeout / 4, 5.0))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for live in list(self.live.values()):
                idle_for = now - live.last_used
                if (
                    idle_for >= self.config.idle_timeout
                    and not live.busy
                    and live.commands_in_flight == 0
                ):
                    try:
                        await self._stop(live, "idle")
                    except Exception:
                        logger.exception("stopping idle session %s failed", live.session_id)

    def _describe(self, session_id: str, summary: dict[str, Any]) -> dict[str, Any]:
        live = self.live.get(session_id)
        # A live session knows its newest name before pi's file does (a session's file is
        # written with its first message); names in files are whatever the Sprite wrote.
        name = live.name if live is not None and live.name else summary.get("name")
        return {
            **summary,
            "name": clean_session_name(name) or None,
            "live": live is not None,
            "busy": bool(live and live.busy),
            "current": session_id == self.current_id,
        }
