"""The environment of every process the bridge starts, and how new secrets reach it.

The bridge starts with the project's secrets and its gateway token as environment variables
(``STARTER_ENVIRONMENT_NAMES`` lists which; ``STARTER_SECRET_NAMES`` the ones the agent is
told about). When the person changes one, the control plane sends the whole new set
(``POST /starter/environment``): from then on every new process (a pi process, an exec, a
service, a cron run) gets the new values, and each part that keeps long-lived processes (the
sessions, the service supervisor) subscribes to learn it should restart them when that does
not cost anyone their work.

The set may only hold names the control plane owns: never the bridge's token, its own
``STARTER_*`` settings, or what the platform sets for every process (``PATH``, ``HOME``…).
The same rule is checked by the keeper, which keeps the newest set for a bridge it restarts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping

from bridge_agent.config import TOKEN_ENV
from bridge_agent.protocol import (
    GATEWAY_MODELS_VARIABLE,
    GATEWAY_TOKEN_VARIABLE,
    GATEWAY_URL_VARIABLE,
)

logger = logging.getLogger("bridge_agent.environment")

SECRET_NAMES_ENV = "STARTER_SECRET_NAMES"  # noqa: S105 (a variable name)
# Every name of the control plane's set (secrets, gateway token…): what an update replaces.
# A bridge started without it (an older control plane) replaces the secret names only.
ENVIRONMENT_NAMES_ENV = "STARTER_ENVIRONMENT_NAMES"

MAX_VARIABLES = 512
MAX_VALUE_BYTES = 64 * 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# What the platform sets for every process, or what changes how a process loads code.
RESERVED_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "LANG", "TERM", "TMPDIR", "HOST",
     "PORT", "IFS", "ENV", "BASH_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
     "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "NODE_OPTIONS", "NODE_PATH"}
)  # fmt: skip
# ``STARTER_*`` is the platform's namespace and ``PI_*`` pi's; of those the control plane
# sends only the general agent's API token and what pi needs to reach the model gateway (the
# project's gateway token, the gateway's URL, the fingerprint of pi's models.json).
RESERVED_PREFIXES = ("STARTER_", "PI_")
ALLOWED_PLATFORM_NAMES = frozenset(
    {"STARTER_API_TOKEN", GATEWAY_TOKEN_VARIABLE, GATEWAY_URL_VARIABLE, GATEWAY_MODELS_VARIABLE}
)

EnvironmentListener = Callable[[], Awaitable[None]]


def variable_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be in the control plane's set, or ``None`` if it can."""
    if not _NAME.fullmatch(name):
        return "a name is letters, digits and underscores, not starting with a digit"
    upper = name.upper()
    if upper == TOKEN_ENV or upper in RESERVED_NAMES:
        return f"{name} is set by the platform"
    if upper.startswith(RESERVED_PREFIXES) and upper not in ALLOWED_PLATFORM_NAMES:
        return f"{name} is in the platform's namespace"
    return None


def variables_problem(variables: object, listed: object = None) -> str | None:
    """Why ``variables`` (and ``listed``, the names the agent is told about) is not a set
    the bridge takes; ``None`` when it is. Messages name variables, never their values."""
    if not isinstance(variables, dict):
        return "'variables' must map names to strings"
    if len(variables) > MAX_VARIABLES:
        return f"at most {MAX_VARIABLES} variables"
    for name, value in variables.items():
        if not isinstance(name, str):
            return "every name must be a string"
        problem = variable_name_problem(name)
        if problem is not None:
            return problem[:200]
        if not isinstance(value, str):
            return f"the value of {name} must be a string"
        if "\x00" in value or len(value.encode(errors="surrogatepass")) > MAX_VALUE_BYTES:
            return f"the value of {name} must be at most 64 KiB without NUL characters"
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
            return "'secret_names' must be a list of names"
        if any(name not in variables for name in listed):
            return "'secret_names' may only name variables of the set"
    return None


def checked_update(
    variables: object, listed: object = None
) -> tuple[dict[str, str], list[str] | None]:
    """``variables`` and ``listed`` as the bridge takes them; ``ValueError`` saying why not."""
    problem = variables_problem(variables, listed)
    if problem is not None:
        raise ValueError(problem)
    assert isinstance(variables, dict)
    names = [name for name in listed if isinstance(name, str)] if isinstance(listed, list) else None
    return {str(name): str(value) for name, value in variables.items()}, names


def default_listed(variables: Iterable[str]) -> list[str]:
    """The names the agent is told about when the sender does not say: all but the
    platform's own (an API token, the gateway token)."""
    return sorted(name for name in variables if not name.upper().startswith("STARTER_"))


def names_in(environment: Mapping[str, str], variable: str) -> list[str]:
    """The names a list variable holds: comma or space separated, or a JSON array."""
    raw = environment.get(variable, "").strip()
    if raw.startswith("["):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return sorted({name for name in parsed if isinstance(name, str) and name})
    return sorted({name for name in re.split(r"[\s,]+", raw) if name})


def replaced(
    environment: Mapping[str, str], variables: Mapping[str, str], listed: Iterable[str] | None
) -> tuple[dict[str, str], list[str]]:
    """``environment`` with ``variables`` as its whole control-plane set, and the names
    whose value changed (added, changed or removed), sorted. Other names stay as they are.

    The caller has checked ``variables`` (``variables_problem``)."""
    old_names = (
        names_in(environment, ENVIRONMENT_NAMES_ENV)
        if ENVIRONMENT_NAMES_ENV in environment
        else names_in(environment, SECRET_NAMES_ENV)
    )
    result = dict(environment)
    old = {name: result.pop(name, None) for name in old_names}
    result.update(variables)
    result[ENVIRONMENT_NAMES_ENV] = ",".join(sorted(variables))
    result[SECRET_NAMES_ENV] = ",".join(
        sorted(listed) if listed is not None else default_listed(variables)
    )
    names = set(old) | set(variables)
    return result, sorted(name for name in names if old.get(name) != variables.get(name))


class SpriteEnvironment:
    def __init__(self, base: Mapping[str, str]) -> None:
        self._variables = dict(base)
        self._listeners: list[EnvironmentListener] = []
        # The names changed by each replacement so far: a process that was being started
        # while one happened learns what it missed (``changed_since``).
        self._changes: list[list[str]] = []

    @property
    def generation(self) -> int:
        return len(self._changes)

    def changed_since(self, generation: int) -> set[str]:
        return {name for names in self._changes[generation:] for name in names}

    def for_child(self) -> dict[str, str]:
        """What a child process gets: everything but the bridge's own token."""
        return {key: value for key, value in self._variables.items() if key != TOKEN_ENV}

    def get(self, name: str, default: str = "") -> str:
        return self._variables.get(name, default)

    def secret_names(self) -> list[str]:
        return names_in(self._variables, SECRET_NAMES_ENV)

    def replace_secrets(
        self, variables: Mapping[str, str], listed: Iterable[str] | None = None
    ) -> list[str]:
        """Make ``variables`` the whole set of secrets; the names whose value changed (added,
        changed or removed), sorted. Names outside the set are left alone. ``listed``: the
        names the agent is told about (default: ``default_listed``)."""
        self._variables, changed = replaced(self._variables, variables, listed)
        if changed:
            self._changes.append(changed)
        return changed

    def subscribe(self, listener: EnvironmentListener) -> None:
        self._listeners.append(listener)

    async def notify(self) -> None:
        """Tell every subscriber that the values changed; one failing does not stop the rest."""
        for listener in list(self._listeners):
            try:
                await listener()
            except Exception:
                logger.exception("an environment listener failed")
