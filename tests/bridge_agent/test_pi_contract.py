"""The contract between the bridge and the pinned pi, checked against pi itself.

pi has no versioned protocol (reference pi-1.6.md §11): its RPC events and fields change
under "Fixed" in its changelog as often as under "Breaking". This module starts the pinned
pi exactly as the bridge does (``PiLaunch``: the project's Node, ``--mode rpc
--no-extensions -e starter-extension.ts``, the scripted model), runs one scripted
conversation through ONE pi process, and then checks every event type, order and field that
``bridge_agent/`` reads (and, through the events the bridge forwards, the dashboard's chat:
``static/js/workspace/chat/``). After a pi upgrade, a failure here names what moved.

What the bridge reads, and where:

- ``get_state`` (``PiProcess.start``'s ready signal; ``sessions._launch`` and ``state``):
  ``sessionId``, ``sessionFile``, ``model{provider,id,name}``, ``thinkingLevel``,
  ``isStreaming``, ``isCompacting``, ``pendingMessageCount``, ``sessionName``.
- events (``sessions._handle_pi_event``, ``pi_events``, ``runs``): ``agent_start``,
  ``agent_end{messages}``, ``auto_retry_*``, ``message_*{message{role,timestamp,…}}``,
  ``message_update{assistantMessageEvent{type,contentIndex,delta,toolCall}}``,
  ``tool_execution_*{toolCallId,toolName,args,partialResult,result{content,details},
  isError}``, ``extension_ui_request{method,statusKey,statusText}``, ``queue_update``,
  ``compaction_start/_end``.
- error texts matched by the bridge: "Agent is already processing…" (``SessionBusy``),
  "Nothing to compact…" / "Already compacted" (``NothingToCompact``).
- session files (``session_files``): the name, the header, ``message`` and
  ``session_info`` entries; ``--session <file>`` resumes.
- branching (``branches``): ``get_entries{entries[{id,parentId,type,…}],leafId}``, the
  extension's ``/starter-branch`` (an anchor entry below the target, or an
  ``extension_error{extensionPath,error}``), ``clone`` then ``get_state``.
- slash commands (``slash_commands``): ``get_commands{commands[{name,description,source}]}``
  for templates and skills in the agent dir, the starter extension's reload command
  (``disposition: "handled"``), and pi expanding ``/name args`` in a prompt.

The 1.6 additions the product builds on (``agent_settled``, ``disposition``,
``clear_queue``, thinking levels per model, session names, the tree and forks) are checked
for their shape too, in the tests at the end.

To try another pi before pinning it (``find_pi_binary``/``find_node_binary`` read these)::

    STARTER_PI_BIN=/path/to/node_modules/.bin/pi STARTER_NODE_BIN=/path/to/node \
        .venv/bin/pytest tests/bridge_agent/test_pi_contract.py

A step pi never answers does not stop the conversation (see ``Driver``), so each test names
its own difference: against 0.73.1, 18 of these 26 tests fail (8 still pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge_agent import protocol
from bridge_agent.config import (
    EXTENSION_PATH,
    MINIMUM_NODE,
    PACKAGE_DIR,
    find_node_binary,
    find_pi_binary,
)
from bridge_agent.pi_events import chat_messages, result_text, translate_pi_event
from bridge_agent.pi_process import PiError, PiLaunch, PiProcess
from bridge_agent.session_files import SessionFiles
from bridge_agent.sessions import NOTHING_TO_COMPACT
from bridge_agent.slash_commands import RELOAD_COMMAND, listed_commands
from sprites.backends import fly_bootstrap
from tests.support.bridge_process import PROJECT_ROOT
from tests.support.model_server import (
    MODEL,
    OTHER_MODEL,
    PROVIDER,
    ScriptedModelServer,
    pi_models_config,
    write_pi_config,
)

Line = dict[str, Any]

BASH_COMMAND = "echo contract-hi; echo '  Local:   http://localhost:5173/'"
BASH_OUTPUT = "contract-hi\n  Local:   http://localhost:5173/\n"
EXTENSION_TOOLS = (
    '[[tool: notify_dashboard {"message": "built it", "type": "success", "refreshIframe": true}]]'
    ' [[tool: request_secret {"name": "openai_key", "reason": "to call the API"}]]'
)
# pi estimates 4 characters a token: 100 000 characters are more than the 20 000 tokens it
# keeps by default, so a manual compaction has something to summarise.
LONG_PROMPT = "[[reply: long enough to compact]] " + "lorem " * 16_000
SESSION_NAME = "contract run"
GREET_TEMPLATE = "---\ndescription: Greet someone by name\n---\n[[reply: Hello, $1!]]\n"
TIDE_SKILL = (
    "---\nname: tide-tables\ndescription: Read tide tables for a harbour.\n---\n"
    "Look the harbour up in the tables.\n"
)

# "prompt → bash → answer" on a session's first run (reference pi-1.6.md §3.2), with runs of
# the same line collapsed (how many deltas arrive depends on the model's chunks) and the
# tool's progress lines left out (how many depends on timing; checked on their own).
PROMPT_BASH_ANSWER = [
    "response:prompt",
    "agent_start",
    "turn_start",
    "message_start:system",
    "message_end:system",
    "message_start:user",
    "message_end:user",
    "message_start:assistant",
    "message_update:toolcall_start",
    "message_update:toolcall_delta",
    "message_update:toolcall_end",
    "message_end:assistant",
    "tool_execution_start",
    "extension_ui_request:setStatus",  # the extension saw the dev-server line: app_port
    "tool_execution_end",
    "message_start:toolResult",
    "message_end:toolResult",
    "turn_end",
    "turn_start",
    "message_start:assistant",
    "message_update:text_start",
    "message_update:text_delta",
    "message_update:text_end",
    "message_end:assistant",
    "turn_end",
    "agent_end",
    "agent_settled",
]


def shape(line: Line) -> str:
    """A line's type, with what tells lines of one type apart."""
    kind = str(line.get("type"))
    if kind == "response":
        return f"response:{line.get('command')}"
    if kind in ("message_start", "message_end"):
        return f"{kind}:{(line.get('message') or {}).get('role')}"
    if kind == "message_update":
        return f"{kind}:{(line.get('assistantMessageEvent') or {}).get('type')}"
    if kind == "extension_ui_request":
        return f"{kind}:{line.get('method')}"
    return kind


def collapsed(lines: list[Line]) -> list[str]:
    shapes = [shape(line) for line in lines if line.get("type") != "tool_execution_update"]
    return [item for index, item in enumerate(shapes) if index == 0 or shapes[index - 1] != item]


def text_of(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


# -- driving pi ---------------------------------------------------------------------------


class RecordingPi(PiProcess):
    """The bridge's ``PiProcess`` (its framing, ids and reader), keeping every stdout line
    in arrival order, responses included: the order of a response among the events is part
    of the contract."""

    def __init__(self, launch: PiLaunch) -> None:
        super().__init__(launch, on_event=lambda process, line: None, on_exit=self._exited_by)
        self.lines: list[Line] = []
        self.last_line_at = time.monotonic()
        self.unexpected_exit: int | None = None

    def _exited_by(self, process: PiProcess, returncode: int | None) -> None:
        self.unexpected_exit = returncode if returncode is not None else -1

    def _handle_line(self, raw: bytes) -> None:
        with contextlib.suppress(ValueError):
            parsed = json.loads(raw)
            if isinstance(parsed, dict):
                self.lines.append(parsed)
                self.last_line_at = time.monotonic()
        super()._handle_line(raw)


@dataclass
class Step:
    """One command: its answer, and every line from sending it to the end of the step."""

    name: str
    command: dict[str, Any]
    data: dict[str, Any] | None = None
    error: str | None = None
    lines: list[Line] = field(default_factory=list)
    # The step's awaited line never came (the step ended on a timeout or a quiet pi).
    missing: str | None = None

    def of_type(self, kind: str) -> list[Line]:
        return [line for line in self.lines if line.get("type") == kind]


@dataclass
class Transcript:
    """What one scripted conversation through the pinned pi produced."""

    home: Path
    ready: dict[str, Any]
    ready_lines: list[Line]
    steps: dict[str, Step]
    lines: list[Line]
    returncode: int | None
    stop_seconds: float
    resumed_state: dict[str, Any]
    resumed_messages: list[Any]
    resumed_returncode: int | None

    def __getitem__(self, name: str) -> Step:
        return self.steps[name]

    def lines_between(self, first: str, last: str) -> list[Line]:
        """Every line from the start of step ``first`` to the end of step ``last``."""
        start = self.lines.index(self.steps[first].lines[0])
        end = self.lines.index(self.steps[last].lines[-1])
        return self.lines[start : end + 1]


class Driver:
    """Runs the steps. A step that waits for a line pi never prints ends anyway (after its
    timeout, or once pi has been quiet for a second after ``quiet_after``) and says so in
    ``missing``: then an older or newer pi still gets through the whole conversation, and
    each test below names its own difference instead of one timeout failing them all."""

    def __init__(self, process: RecordingPi) -> None:
        self.process = process
        self.steps: dict[str, Step] = {}

    async def step(
        self,
        name: str,
        command: dict[str, Any],
        until: str | Callable[[Line], bool] | None = None,
        timeout: float = 10.0,
        quiet_after: str | None = None,
    ) -> Step:
        start = len(self.process.lines)
        step = Step(name, command)
        try:
            step.data = await self.process.request(command, answer_within=timeout)
        except PiError as error:
            step.error = error.message
        except TimeoutError:
            # pi < 0.79.7 answered an unknown command without its id.
            step.missing = "response"
        if until is not None and not await self.wait(until, start, timeout, quiet_after):
            step.missing = str(until)
        step.lines = self.process.lines[start:]
        self.steps[name] = step
        return step

    async def run(self, name: str, message: str, timeout: float = 20.0) -> Step:
        """A prompt, until pi has settled (or, for a pi without agent_settled, gone quiet
        after its agent_end)."""
        command = {"type": "prompt", "message": message}
        return await self.step(name, command, "agent_settled", timeout, quiet_after="agent_end")

    async def wait(
        self,
        until: str | Callable[[Line], bool],
        start: int,
        timeout: float,
        quiet_after: str | None,
    ) -> bool:
        matches = until if callable(until) else (lambda line: line.get("type") == until)
        deadline = time.monotonic() + timeout
        while not any(matches(line) for line in self.process.lines[start:]):
            lines = self.process.lines[start:]
            quiet = time.monotonic() - self.process.last_line_at > 1.0
            if quiet and any(line.get("type") == quiet_after for line in lines):
                return False
            if time.monotonic() > deadline or not self.process.alive:
                return False
            await asyncio.sleep(0.02)
        return True


def launch_for(
    home: Path, session_file: Path | None = None, env: dict[str, str] | None = None
) -> PiLaunch:
    """pi's launch as ``SessionManager._launch`` builds it."""
    pi = find_pi_binary(dict(os.environ), [PACKAGE_DIR, Path.cwd()])
    return PiLaunch(
        binary=pi,
        home=home,
        agent_dir=home / ".pi" / "agent",
        session_dir=home / ".pi" / "sessions",
        extension=EXTENSION_PATH,
        env={**os.environ, "STARTER_HOME": str(home), "STARTER_BRIDGE_PORT": "8080", **(env or {})},
        session_file=session_file,
        node=find_node_binary(dict(os.environ), pi),
        compile_cache=home / ".starter" / "node-compile-cache",
    )


async def converse(home: Path) -> Transcript:
    process = RecordingPi(launch_for(home))
    ready = await process.start()
    ready_lines = list(process.lines)
    pi = Driver(process)
    try:
        await pi.run("bash", f"[[bash: {BASH_COMMAND}]]")
        await pi.run("extension_tools", EXTENSION_TOOLS)
        await pi.run("retry", "[[fail: 503]]")  # settings: one retry, 50 ms later
        # A run that is still going: a prompt is refused, queued messages are taken back,
        # and the run is aborted.
        await pi.step(
            "slow",
            {"type": "prompt", "message": "[[slow: 100]]"},
            until=lambda line: shape(line) == "message_update:text_delta",
        )
        await pi.step("busy_prompt", {"type": "prompt", "message": "while busy"})
        await pi.step(
            "follow_up",
            {"type": "prompt", "message": "queued follow-up", "streamingBehavior": "followUp"},
        )
        await pi.step("steer", {"type": "steer", "message": "queued steer"})
        await pi.step("clear_queue", {"type": "clear_queue"})
        await pi.step("abort", {"type": "abort"}, "agent_settled", quiet_after="agent_end")
        await pi.step("state_named", {"type": "get_state"})
        await pi.step("compact_small", {"type": "compact"})
        await pi.step(
            "set_session_name",
            {"type": "set_session_name", "name": SESSION_NAME},
            until="session_info_changed",
            timeout=5,
        )
        await pi.step("messages", {"type": "get_messages"})
        await pi.run("long", LONG_PROMPT)
        await pi.step("compact", {"type": "compact"}, "compaction_end", timeout=60)
        await pi.step("compact_again", {"type": "compact"})
        await pi.step("messages_compacted", {"type": "get_messages"})
        await pi.step("stats", {"type": "get_session_stats"})
        await pi.step("state", {"type": "get_state"})
        await pi.step("levels", {"type": "get_available_thinking_levels"})
        await pi.step("entries", {"type": "get_entries"})
        await pi.step("tree", {"type": "get_tree"})
        await pi.step(
            "set_model_unknown", {"type": "set_model", "provider": "nope", "modelId": "x"}
        )
        await pi.step(
            "set_model", {"type": "set_model", "provider": PROVIDER, "modelId": OTHER_MODEL}
        )
        await pi.step("set_thinking_level", {"type": "set_thinking_level", "level": "high"})
        await pi.step("state_after_config", {"type": "get_state"})
        # Last: these move the process to other session files. (Forking at the first user
        # message leaves nothing to save: pi then refuses to clone until a message is sent.)
        await pi.step("clone", {"type": "clone"})
        await pi.step("state_cloned", {"type": "get_state"})
        await pi.step("fork_messages", {"type": "get_fork_messages"})
        forkable = (pi.steps["fork_messages"].data or {}).get("messages") or [{}]
        fork_at = forkable[-1].get("entryId", "no-fork-messages")
        await pi.step("fork", {"type": "fork", "entryId": fork_at})
        await pi.step("state_forked", {"type": "get_state"})
        # Slash commands (bridge_agent/slash_commands.py): the list, the extension's reload
        # command (handled by the extension, no run), a template that pi expands.
        await pi.step("commands", {"type": "get_commands"})
        await pi.step("reload", {"type": "prompt", "message": f"/{RELOAD_COMMAND}"})
        await pi.run("template", "/greet Ada")
        # Branching (bridge_agent/branches.py): the extension's /starter-branch moves the leaf.
        entries = await pi.step("entries_before_branch", {"type": "get_entries"})
        first_answer = next(
            (
                entry["id"]
                for entry in (entries.data or {}).get("entries", [])
                if entry.get("type") == "message" and entry["message"].get("role") == "assistant"
            ),
            "no-entries-listed",  # a pi without get_entries: the tests below say so
        )
        branch = f"/{protocol.BRANCH_COMMAND} {first_answer}"
        await pi.step("branch", {"type": "prompt", "message": branch})
        await pi.step("entries_after_branch", {"type": "get_entries"})
        unknown = f"/{protocol.BRANCH_COMMAND} no-such-entry"
        await pi.step(
            "branch_unknown", {"type": "prompt", "message": unknown}, "extension_error", 5
        )
    finally:
        stopped_at = time.monotonic()
        await process.stop()
        stop_seconds = time.monotonic() - stopped_at
    assert process.unexpected_exit is None, process.stderr_tail

    # A stopped session resumes from its file (idle reaping, crashes, a restarted bridge).
    session_file = Path(ready["sessionFile"])
    resumed = RecordingPi(launch_for(home, session_file=session_file))
    resumed_state = await resumed.start()
    try:
        resumed_messages = (await resumed.request({"type": "get_messages"}))["messages"]
    finally:
        await resumed.stop()
    return Transcript(
        home=home,
        ready=ready,
        ready_lines=ready_lines,
        steps=pi.steps,
        lines=process.lines,
        returncode=process.returncode,
        stop_seconds=stop_seconds,
        resumed_state=resumed_state,
        resumed_messages=resumed_messages,
        resumed_returncode=resumed.returncode,
    )


@pytest.fixture(scope="module")
def transcript(
    tmp_path_factory: pytest.TempPathFactory, scripted_model_server: ScriptedModelServer
) -> Iterator[Transcript]:
    home = tmp_path_factory.mktemp("contract") / "home"
    agent_dir = write_pi_config(home, scripted_model_server.base_url)
    settings = json.loads((agent_dir / "settings.json").read_text())
    settings["retry"] = {"maxRetries": 1, "baseDelayMs": 50}
    (agent_dir / "settings.json").write_text(json.dumps(settings))
    (agent_dir / "prompts").mkdir()
    (agent_dir / "prompts" / "greet.md").write_text(GREET_TEMPLATE)
    (agent_dir / "skills" / "tide-tables").mkdir(parents=True)
    (agent_dir / "skills" / "tide-tables" / "SKILL.md").write_text(TIDE_SKILL)
    yield asyncio.run(converse(home))


# -- the pinned versions ------------------------------------------------------------------


def test_the_pinned_pi_runs_on_the_pinned_node() -> None:
    """package.json, the Fly bootstrap and what actually runs all name the same versions."""
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    pi = find_pi_binary(dict(os.environ), [PACKAGE_DIR])
    node = find_node_binary(dict(os.environ), pi)
    assert node is not None, "no node beside pi: the bridge would run pi with PATH's node"
    assert Path(pi) == PROJECT_ROOT / "node_modules" / ".bin" / "pi"
    node_version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    pi_version = subprocess.run(
        [node, pi, "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert pi_version == package["dependencies"][fly_bootstrap.PI_PACKAGE]
    assert pi_version == fly_bootstrap.PI_VERSION
    assert node_version == f"v{fly_bootstrap.NODE_VERSION}"
    assert set(package["optionalDependencies"].values()) == {fly_bootstrap.NODE_VERSION}
    major, minor = (int(part) for part in node_version.lstrip("v").split(".")[:2])
    assert (major, minor) >= MINIMUM_NODE


# -- start and state ----------------------------------------------------------------------


def test_pi_prints_nothing_before_its_answer_to_get_state(transcript: Transcript) -> None:
    """``PiProcess.start`` takes the first answer as the ready signal."""
    assert [shape(line) for line in transcript.ready_lines] == ["response:get_state"]
    assert transcript.ready_lines[0]["success"] is True


def test_get_state_has_the_keys_the_bridge_reads(transcript: Transcript) -> None:
    ready = transcript.ready
    assert re.match(protocol.SESSION_ID_PATTERN, ready["sessionId"])
    session_file = Path(ready["sessionFile"])
    assert session_file.parent == transcript.home / ".pi" / "sessions"
    assert session_file.name.endswith(f"_{ready['sessionId']}.jsonl")
    assert {"provider": PROVIDER, "id": MODEL} == {
        key: ready["model"][key] for key in ("provider", "id")
    }
    assert isinstance(ready["model"]["name"], str)
    assert ready["thinkingLevel"] == "off"
    assert ready["isStreaming"] is False and ready["isCompacting"] is False
    assert ready["pendingMessageCount"] == 0
    named = transcript["state"].data
    assert named is not None
    assert named["sessionName"] == SESSION_NAME
    assert named["sessionId"] == ready["sessionId"]
    assert named["sessionFile"] == ready["sessionFile"]


# -- a run --------------------------------------------------------------------------------


def test_prompt_bash_answer_event_sequence(transcript: Transcript) -> None:
    step = transcript["bash"]
    assert step.data == {"disposition": "started"}
    assert collapsed(step.lines) == PROMPT_BASH_ANSWER


def test_every_run_starts_and_ends_and_settles(transcript: Transcript) -> None:
    """The bridge's busy flag follows agent_start/agent_end, its run log pairs them."""
    for name in ("bash", "extension_tools", "long"):
        assert transcript[name].missing is None, f"{name}: pi never printed agent_settled"
        types = [line["type"] for line in transcript[name].lines]
        assert types.count("agent_start") == 1 and types.count("agent_end") == 1, name
        assert types.index("agent_start") < types.index("agent_end") < types.index("agent_settled")
        assert transcript[name].of_type("agent_end")[0]["willRetry"] is False
        assert transcript[name].of_type("agent_settled")[0] == {
            "type": "agent_settled",
            "aborted": False,
        }


def test_a_failed_run_is_retried_and_says_so(transcript: Transcript) -> None:
    """``LiveSession`` keeps a session busy until agent_settled, past a retried run's
    agent_end (and reports ``retrying`` from auto_retry_start to auto_retry_end); the run's
    agent_end says whether another attempt follows (the chat shows "Retrying…")."""
    step = transcript["retry"]
    assert step.missing is None
    shapes = [shape(line) for line in step.lines if shape(line) != "entry_appended"]
    ends = [line for line in step.lines if line["type"] == "agent_end"]
    assert [end["willRetry"] for end in ends] == [True, False]
    retry_start = step.of_type("auto_retry_start")[0]
    assert (retry_start["attempt"], retry_start["maxAttempts"]) == (1, 1)
    assert isinstance(retry_start["delayMs"], int) and "503" in retry_start["errorMessage"]
    (retry_end,) = step.of_type("auto_retry_end")
    assert retry_end["success"] is False and "503" in retry_end["finalError"]
    assert shapes.index("auto_retry_start") > shapes.index("agent_end")
    assert shapes[-3:] == ["agent_end", "auto_retry_end", "agent_settled"]
    failed = ends[-1]["messages"][-1]
    assert failed["role"] == "assistant" and failed["stopReason"] == "error"
    assert "503" in failed["errorMessage"]  # the chat shows it (view.js)


def test_message_update_carries_only_the_delta(transcript: Transcript) -> None:
    step = transcript["bash"]
    updates = step.of_type("message_update")
    for update in updates:
        assert "message" not in update  # pi < 0.84 repeated the whole partial message here
        event = update["assistantMessageEvent"]
        assert "partial" not in event
        assert isinstance(event["contentIndex"], int)
    deltas = [
        update["assistantMessageEvent"]["delta"]
        for update in updates
        if update["assistantMessageEvent"]["type"] == "text_delta"
    ]
    answer = step.of_type("message_end")[-1]["message"]
    assert "".join(deltas) == text_of(answer["content"]) == f"Done. {BASH_OUTPUT}"
    # The chat draws a tool card from toolcall_end's complete call.
    (end,) = [u for u in updates if u["assistantMessageEvent"]["type"] == "toolcall_end"]
    call = end["assistantMessageEvent"]["toolCall"]
    assert {key: call[key] for key in ("type", "name", "arguments")} == {
        "type": "toolCall",
        "name": "bash",
        "arguments": {"command": BASH_COMMAND},
    }
    assert isinstance(call["id"], str) and call["id"]


def test_tool_execution_events_carry_what_the_bridge_and_chat_read(
    transcript: Transcript,
) -> None:
    step = transcript["bash"]
    call = step.of_type("message_end")[2]["message"]["content"][0]  # system, user, assistant
    (started,) = step.of_type("tool_execution_start")
    (ended,) = step.of_type("tool_execution_end")
    assert started["toolCallId"] == ended["toolCallId"] == call["id"]
    assert started["toolName"] == ended["toolName"] == "bash"
    assert started["args"] == {"command": BASH_COMMAND}
    assert ended["isError"] is False
    assert ended["result"]["content"] == [{"type": "text", "text": BASH_OUTPUT}]
    assert result_text(ended["result"]) == BASH_OUTPUT
    for update in step.of_type("tool_execution_update"):
        assert update["toolCallId"] == call["id"] and update["toolName"] == "bash"
        assert isinstance(update["partialResult"]["content"], list)
    # Tool results from the extension keep their details (the chat shows them).
    notify_end = transcript["extension_tools"].of_type("tool_execution_end")[0]
    assert notify_end["toolName"] == "notify_dashboard"
    assert notify_end["result"]["details"] == {
        "message": "built it",
        "level": "success",
        "refreshIframe": True,
    }


def test_messages_have_the_shapes_the_chat_draws(transcript: Transcript) -> None:
    """message_end and get_messages give the same messages, keyed by role and timestamp
    (the chat's de-duplication), with pi's system record first."""
    history = transcript["messages"].data["messages"]  # type: ignore[index]
    assert history[0]["role"] == "system"
    roles = [message["role"] for message in chat_messages(history)]
    assert roles[:5] == ["user", "assistant", "toolResult", "assistant", "user"]
    user, call_message, result, answer = chat_messages(history)[:4]
    assert user["content"] == [{"type": "text", "text": f"[[bash: {BASH_COMMAND}]]"}]
    (call,) = call_message["content"]
    assert (call["type"], call["name"], call["arguments"]) == (
        "toolCall",
        "bash",
        {"command": BASH_COMMAND},
    )
    assert call_message["stopReason"] == "toolUse"
    assert (result["toolCallId"], result["toolName"], result["isError"]) == (
        call["id"],
        "bash",
        False,
    )
    assert text_of(result["content"]) == BASH_OUTPUT
    assert answer["stopReason"] == "stop"
    for message in history:
        assert isinstance(message["timestamp"], int), message["role"]
    ended = [
        line["message"]
        for name in ("bash", "extension_tools")
        for line in transcript[name].of_type("message_end")
    ]
    assert [(m["role"], m["timestamp"]) for m in ended] == [
        (m["role"], m["timestamp"]) for m in history[: len(ended)]
    ]
    run_end = transcript["bash"].of_type("agent_end")[0]
    assert [m["role"] for m in run_end["messages"]] == [
        "system",
        "user",
        "assistant",
        "toolResult",
        "assistant",
    ]


def test_the_bridge_translates_every_line_pi_printed(transcript: Transcript) -> None:
    """Through ``translate_pi_event``: no system message reaches the log, tool events get
    their bridge names and text, and the extension's status lines become bridge events."""
    translated = [
        event
        for line in transcript.lines
        if line.get("type") != "response"
        for event in [translate_pi_event(line)]
        if event is not None
    ]
    for event in translated:
        message = event.data.get("message")
        assert not (isinstance(message, dict) and message.get("role") == "system"), event
        for message in event.data.get("messages") or []:
            assert message.get("role") != "system"
    types = [event.type for event in translated]
    assert {"tool_start", "tool_update", "tool_end"} <= set(types)
    assert not {"tool_execution_start", "tool_execution_end", "extension_ui_request"} & set(types)
    tool_end = next(event for event in translated if event.type == "tool_end")
    assert tool_end.data["text"] == BASH_OUTPUT
    extension_events = [
        (event.type, event.data)
        for event in translated
        if event.type in {"app_port", "notify", "secret_requested"}
    ]
    assert extension_events == [
        ("app_port", {"port": 5173, "line": "Local:   http://localhost:5173/", "tool": "bash"}),
        ("notify", {"message": "built it", "level": "success", "refresh_iframe": True}),
        ("secret_requested", {"name": "OPENAI_KEY", "reason": "to call the API"}),
    ]


def test_extension_talks_through_set_status_lines(transcript: Transcript) -> None:
    requests = [
        line
        for name in ("bash", "extension_tools")
        for line in transcript[name].of_type("extension_ui_request")
    ]
    assert [line["method"] for line in requests] == ["setStatus"] * 3
    for line in requests:
        assert line["statusKey"] == "starter-bridge"
        assert isinstance(json.loads(line["statusText"]), dict)
        assert isinstance(line["id"], str)


# -- a busy session -----------------------------------------------------------------------


def test_a_prompt_while_busy_is_refused_with_the_text_the_bridge_matches(
    transcript: Transcript,
) -> None:
    error = transcript["busy_prompt"].error
    assert error is not None and "already processing" in error  # sessions._send_run_command
    assert error == (
        "Agent is already processing. Specify streamingBehavior ('steer' or 'followUp') to "
        "queue the message."
    )


def test_queued_messages_are_announced_and_taken_back(transcript: Transcript) -> None:
    assert transcript["follow_up"].data == {"disposition": "queued"}
    assert transcript["steer"].data == {"disposition": "queued"}
    assert transcript["clear_queue"].data == {
        "steering": ["queued steer"],
        "followUp": ["queued follow-up"],
    }
    updates = [
        {key: line[key] for key in ("steering", "followUp")}
        for line in transcript.lines_between("follow_up", "clear_queue")
        if line.get("type") == "queue_update"
    ]
    assert updates == [
        {"steering": [], "followUp": ["queued follow-up"]},
        {"steering": ["queued steer"], "followUp": ["queued follow-up"]},
        {"steering": [], "followUp": []},
    ]


def test_abort_ends_the_run_as_aborted_before_it_answers(transcript: Transcript) -> None:
    run = transcript.lines_between("slow", "abort")
    shapes = [shape(line) for line in run]
    # pi answers abort once the session is idle: after agent_end and agent_settled.
    assert shapes.index("agent_end") < shapes.index("agent_settled")
    assert shapes.index("agent_settled") < shapes.index("response:abort")
    assert shapes.count("agent_start") == 1  # the cleared follow-up never ran
    end = next(line for line in run if line["type"] == "agent_end")
    assert end["messages"][-1]["role"] == "assistant"
    assert end["messages"][-1]["stopReason"] == "aborted"
    assert next(line for line in run if line["type"] == "agent_settled")["aborted"] is True
    assert transcript["abort"].error is None
    assert transcript["state_named"].data["isStreaming"] is False  # type: ignore[index]


# -- compaction ---------------------------------------------------------------------------


def test_compaction_refusals_have_the_texts_the_bridge_matches(transcript: Transcript) -> None:
    small, again = transcript["compact_small"].error, transcript["compact_again"].error
    assert small == "Nothing to compact (session too small)"
    assert again == "Already compacted"
    assert small.startswith(NOTHING_TO_COMPACT) and again.startswith(NOTHING_TO_COMPACT)


def test_compaction_answers_with_a_summary_and_announces_itself(transcript: Transcript) -> None:
    step = transcript["compact"]
    assert step.error is None and step.data is not None
    assert step.data["summary"].startswith("SUMMARY:")
    assert isinstance(step.data["firstKeptEntryId"], str)
    assert isinstance(step.data["tokensBefore"], int)
    types = [line["type"] for line in step.lines]
    assert types.index("compaction_start") < types.index("compaction_end")
    end = step.of_type("compaction_end")[0]
    assert end["aborted"] is False and end["result"]["summary"] == step.data["summary"]
    history = transcript["messages_compacted"].data["messages"]  # type: ignore[index]
    summaries = [message for message in history if message["role"] == "compactionSummary"]
    assert len(summaries) == 1 and summaries[0]["summary"] == step.data["summary"]


# -- stats and configuration --------------------------------------------------------------


def test_session_stats_keys(transcript: Transcript) -> None:
    stats = transcript["stats"].data
    assert stats is not None
    assert stats["sessionId"] == transcript.ready["sessionId"]
    assert stats["sessionFile"] == transcript.ready["sessionFile"]
    for key in (
        "userMessages",
        "assistantMessages",
        "toolCalls",
        "toolResults",
        "totalMessages",
    ):
        assert isinstance(stats[key], int), key
    assert stats["toolCalls"] == stats["toolResults"] == 3
    assert set(stats["tokens"]) >= {"input", "output", "cacheRead", "cacheWrite", "total"}
    assert stats["tokens"]["total"] > 0
    assert isinstance(stats["cost"], int | float)
    assert set(stats["contextUsage"]) >= {"tokens", "contextWindow", "percent"}


def test_set_model_and_thinking_level(transcript: Transcript) -> None:
    """``SessionManager.configure``: a bad model is a PiError the bridge words itself; a
    level the model lacks is clamped silently (the picker asks for the model's levels)."""
    assert transcript["set_model_unknown"].error == "Model not found: nope/x"
    chosen = transcript["set_model"].data
    assert chosen is not None and (chosen["provider"], chosen["id"]) == (PROVIDER, OTHER_MODEL)
    assert transcript["set_thinking_level"].error is None
    state = transcript["state_after_config"].data
    assert state is not None
    assert (state["model"]["provider"], state["model"]["id"]) == (PROVIDER, OTHER_MODEL)
    assert state["thinkingLevel"] == "off"
    assert transcript["levels"].data == {"levels": ["off"]}


# -- session files ------------------------------------------------------------------------


def test_session_file_shapes_and_the_bridges_summary(transcript: Transcript) -> None:
    path = Path(transcript.ready["sessionFile"])
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    header = entries[0]
    assert header["type"] == "session" and header["id"] == transcript.ready["sessionId"]
    assert isinstance(header["timestamp"], str) and header["version"] == 3
    assert header["cwd"] == str(transcript.home)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z_", path.name)
    messages = [entry for entry in entries if entry["type"] == "message"]
    assert {entry["message"]["role"] for entry in messages} >= {
        "system",
        "user",
        "assistant",
        "toolResult",
    }
    for entry in entries[1:]:
        assert isinstance(entry["timestamp"], str) and isinstance(entry["id"], str), entry
    assert [entry["name"] for entry in entries if entry["type"] == "session_info"] == [SESSION_NAME]
    assert [entry["type"] for entry in entries].count("compaction") == 1

    summary = SessionFiles(path.parent).find(transcript.ready["sessionId"])
    assert summary is not None and summary.path == path
    assert summary.name == SESSION_NAME
    assert summary.created == header["timestamp"]
    not_system = [entry for entry in messages if entry["message"]["role"] != "system"]
    assert summary.message_count == len(not_system)


def test_a_session_resumes_from_its_file(transcript: Transcript) -> None:
    state = transcript.resumed_state
    assert state["sessionId"] == transcript.ready["sessionId"]
    assert state["sessionFile"] == transcript.ready["sessionFile"]
    assert state["sessionName"] == SESSION_NAME
    texts = [text_of(m.get("content")) for m in transcript.resumed_messages]
    assert "long enough to compact" in texts  # the answer after the compaction's summary
    assert transcript.resumed_returncode == 0


def test_pi_exits_cleanly_when_its_input_closes(transcript: Transcript) -> None:
    """``PiProcess.stop`` closes stdin and escalates to signals after 5 s."""
    assert transcript.returncode == 0
    assert transcript.stop_seconds < 5


# -- what pi 1.6 adds, as the product uses it ----------------------------------------------


def test_commands_levels_and_names_answer_in_their_documented_shapes(
    transcript: Transcript,
) -> None:
    (changed,) = transcript["set_session_name"].of_type("session_info_changed")
    assert changed["name"] == SESSION_NAME


def test_slash_commands_are_listed_run_and_expanded(transcript: Transcript) -> None:
    """What ``SessionManager.commands`` and ``listed_commands`` read, and what pi does with
    ``/name`` in a prompt. --no-extensions leaves no built-in command (mcp, llama)."""
    commands = transcript["commands"].data
    assert commands is not None
    by_name = {command["name"]: command for command in commands["commands"]}
    assert {name: command["source"] for name, command in by_name.items()} == {
        "greet": "prompt",
        "skill:tide-tables": "skill",
        RELOAD_COMMAND: "extension",
        protocol.BRANCH_COMMAND: "extension",
    }
    assert by_name["greet"]["description"] == "Greet someone by name"
    assert by_name["skill:tide-tables"]["description"] == "Read tide tables for a harbour."
    listed = listed_commands(commands["commands"])  # what the bridge serves
    assert sorted((command["name"], command["source"]) for command in listed) == [
        ("greet", "prompt"),
        ("skill:tide-tables", "skill"),
    ]
    # The extension's command is handled by the extension: no run starts.
    assert transcript["reload"].data == {"disposition": "handled"}
    assert "agent_start" not in [line["type"] for line in transcript["reload"].lines]
    template = transcript["template"]
    assert template.missing is None
    user = next(
        line["message"]
        for line in template.of_type("message_end")
        if line["message"]["role"] == "user"
    )
    assert text_of(user["content"]) == "[[reply: Hello, Ada!]]"
    answer = template.of_type("agent_end")[0]["messages"][-1]
    assert text_of(answer["content"]) == "Hello, Ada!"


def test_entries_tree_and_forks(transcript: Transcript) -> None:
    entries = transcript["entries"].data
    tree = transcript["tree"].data
    assert entries is not None and tree is not None
    assert entries["leafId"] == tree["leafId"] == entries["entries"][-1]["id"]
    assert all(entry["type"] != "session" for entry in entries["entries"])
    root = tree["tree"][0]
    assert set(root) >= {"entry", "children"} and root["entry"]["id"] == entries["entries"][0]["id"]
    original = Path(transcript.ready["sessionFile"])
    assert transcript["clone"].data == {"cancelled": False}
    cloned = transcript["state_cloned"].data
    assert cloned is not None and cloned["sessionId"] != transcript.ready["sessionId"]
    assert Path(cloned["sessionFile"]).exists() and cloned["sessionName"] == SESSION_NAME
    # The clone's user messages, oldest first: the fork points.
    forkable = transcript["fork_messages"].data["messages"]  # type: ignore[index]
    assert [item["text"] for item in forkable] == [
        f"[[bash: {BASH_COMMAND}]]",
        EXTENSION_TOOLS,
        "[[fail: 503]]",
        "[[slow: 100]]",
        LONG_PROMPT,
    ]
    assert all(isinstance(item["entryId"], str) for item in forkable)
    assert transcript["fork"].data == {"text": LONG_PROMPT, "cancelled": False}
    forked = transcript["state_forked"].data
    assert forked is not None
    assert forked["sessionId"] not in {transcript.ready["sessionId"], cloned["sessionId"]}
    header = json.loads(Path(forked["sessionFile"]).read_text().splitlines()[0])
    assert header["parentSession"] == cloned["sessionFile"]
    assert original.exists()


# -- provider keys ------------------------------------------------------------------------

KEY_VARIABLE, KEY_VALUE = "CONTRACT_PROVIDER_KEY", "sk-contract-key-value"


def test_models_json_reads_a_key_variable_only_when_written_with_a_dollar(
    tmp_path: Path,
) -> None:
    """pi >= 0.77 sends a bare ``apiKey`` as the key itself; ``$NAME`` reads the variable
    (the control plane writes ``$STARTER_GATEWAY_TOKEN``: gateway/pi_config.py)."""
    with ScriptedModelServer(api_key=KEY_VALUE) as server:
        home = tmp_path / "home"
        agent_dir = write_pi_config(home, server.base_url)
        fake = pi_models_config(server.base_url)["providers"][PROVIDER]
        providers = {
            "keyed-dollar": {**fake, "apiKey": f"${KEY_VARIABLE}"},
            "keyed-bare": {**fake, "apiKey": KEY_VARIABLE},
        }
        (agent_dir / "models.json").write_text(json.dumps({"providers": providers}))
        settings = {"defaultProvider": "keyed-dollar", "defaultModel": MODEL}
        (agent_dir / "settings.json").write_text(json.dumps(settings))

        async def converse_with_keys() -> tuple[Step, Step]:
            process = RecordingPi(launch_for(home, env={KEY_VARIABLE: KEY_VALUE}))
            await process.start()
            pi = Driver(process)
            try:
                dollar = await pi.run("dollar", "[[reply: the key was right]]")
                switch = {"type": "set_model", "provider": "keyed-bare", "modelId": MODEL}
                await pi.step("switch", switch)
                bare = await pi.run("bare", "[[reply: never sent]]")
            finally:
                await process.stop()
            return dollar, bare

        dollar, bare = asyncio.run(converse_with_keys())
        keys = server.keys
    answer = dollar.of_type("agent_end")[0]["messages"][-1]
    assert text_of(answer["content"]) == "the key was right"
    assert keys[0] == KEY_VALUE
    assert set(keys[1:]) == {KEY_VARIABLE}  # the variable's NAME, refused with a 401
    refused = bare.of_type("agent_end")[-1]["messages"][-1]
    assert refused["stopReason"] == "error" and "401" in refused["errorMessage"]


def test_entries_form_a_tree_and_the_branch_command_moves_the_leaf(
    transcript: Transcript,
) -> None:
    """What ``branches.SessionEntries`` reads (ids, parentIds, the leaf) and how the
    extension's ``/starter-branch`` answers: the leaf on an anchor entry right below the
    target, and an unknown target as an extension_error (the command still succeeds)."""
    before = transcript["entries_before_branch"].data
    assert before is not None
    ids = {entry["id"] for entry in before["entries"]}
    for entry in before["entries"]:
        assert re.match(protocol.ENTRY_ID_PATTERN, entry["id"]), entry["id"]
        assert entry["parentId"] is None or entry["parentId"] in ids
        assert isinstance(entry["timestamp"], str)
    assert before["leafId"] == before["entries"][-1]["id"]
    target = transcript["branch"].command["message"].split()[-1]
    assert transcript["branch"].data == {"disposition": "handled"}
    after = transcript["entries_after_branch"].data
    assert after is not None
    (anchor,) = [entry for entry in after["entries"] if entry["id"] not in ids]
    assert (anchor["type"], anchor["customType"]) == ("custom", protocol.BRANCH_COMMAND)
    assert anchor["parentId"] == target and after["leafId"] == anchor["id"]

    unknown = transcript["branch_unknown"]
    assert unknown.error is None and unknown.missing is None
    (error,) = unknown.of_type("extension_error")
    assert error["extensionPath"] == f"command:{protocol.BRANCH_COMMAND}"
    assert "no-such-entry" in error["error"]
