"""A live session's pi process and its run state, as the bridge follows it from pi's events.

Busy time is pi's own (pi 1.6): it begins when pi accepts a run (``agent_start``, or a prompt
answered ``started``) and ends only with ``agent_settled``, which pi sends once it will do
nothing more by itself. A run that pi retries (``agent_end.willRetry``) or that goes on with
queued messages stays busy, so the idle reaper never stops a session between two attempts. A
prompt being sent counts as busy until pi answers it; one answered ``handled`` (an extension
command took it) starts no run and leaves the session as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge_agent import protocol
from bridge_agent.pi_process import PiProcess
from bridge_agent.session_names import clean_session_name
from bridge_agent.slash_commands import Signature


def empty_queue() -> dict[str, list[str]]:
    return {"steering": [], "followUp": []}


def queued_texts(value: Any) -> list[str]:
    """pi's queue texts (a list of strings); anything else in it is dropped."""
    if not isinstance(value, list):
        return []
    return [text for text in value if isinstance(text, str)]


@dataclass(eq=False)
class LiveSession:
    session_id: str
    process: PiProcess
    session_file: Path | None
    # From agent_start (or a "started" answer) to agent_settled.
    running: bool = False
    # Prompts sent to pi and not answered yet.
    run_commands_pending: int = 0
    # Between auto_retry_start and auto_retry_end (or agent_settled).
    retrying: bool = False
    commands_in_flight: int = 0
    last_used: float = field(default_factory=time.monotonic)
    # Counted so a prompt's answer can tell whether pi started or settled a run meanwhile.
    runs_started: int = 0
    settles: int = 0
    # The display name (pi's sessionName / session_info_changed), cleaned; None if unnamed.
    name: str | None = None
    # The latest queue_update: the texts waiting to be steered in or followed up.
    queue: dict[str, list[str]] = field(default_factory=empty_queue)
    # What pi's template and skill folders held when pi last read them (slash_commands).
    resources: Signature = ()
    # A final agent_end (willRetry false) came and its agent_settled has not yet.
    settling: bool = False
    # Variables whose new values came while this process was busy: it restarts with them
    # once idle (bridge_agent/environment_restarts.py).
    stale_environment: set[str] = field(default_factory=set)
    _settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def busy(self) -> bool:
        return self.running or self.run_commands_pending > 0

    async def wait_settling(self, within: float = 2.0) -> None:
        """If the run has ended and only its agent_settled is missing, wait for that.

        pi sends agent_settled right after the final agent_end; a client that saw the
        agent_end and sends its next prompt at once should not be told the session is busy.
        """
        if not (self.running and self.settling):
            return
        self._settled.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), within)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def observe(self, line: dict[str, Any]) -> None:
        """Follow one pi event line (see the module docstring)."""
        pi_type = line.get("type")
        if pi_type == protocol.EVENT_AGENT_START:
            self.running = True
            self.settling = False
            self.runs_started += 1
        elif pi_type == protocol.EVENT_AGENT_END:
            self.settling = line.get("willRetry") is not True
        elif pi_type == protocol.EVENT_AGENT_SETTLED:
            # Also arrives alone (after switch_session, at the start of compact): idle then too.
            self.running = False
            self.retrying = False
            self.settling = False
            self.settles += 1
            self._settled.set()
        elif pi_type == protocol.EVENT_AUTO_RETRY_START:
            self.retrying = True
        elif pi_type == protocol.EVENT_AUTO_RETRY_END:
            self.retrying = False
        elif pi_type == protocol.EVENT_QUEUE_UPDATE:
            self.queue = {
                "steering": queued_texts(line.get("steering")),
                "followUp": queued_texts(line.get("followUp")),
            }
        elif pi_type == protocol.EVENT_SESSION_INFO_CHANGED:
            self.name = clean_session_name(line.get("name")) or None
