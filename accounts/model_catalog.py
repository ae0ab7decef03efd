"""Which models a person can pick: pi's built-in registry plus their own custom providers.

pi ships its model registry as a generated JavaScript module (pi-ai's
`models.generated.js`); `pi --list-models` only lists providers that already have a key, so
the registry is read once per process with node (about 0.1 s) and kept in memory. Without
node or pi the lists are empty and model fields stay free text.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

from accounts.models import CustomProvider
from accounts.providers import PROVIDER_ENV_VARS, PROVIDER_LABELS

if TYPE_CHECKING:  # organisations/ builds on accounts/: the type only
    from organisations.models import Organisation

logger = logging.getLogger(__name__)

REGISTRY_MODULE = "@earendil-works/pi-ai/dist/models.generated.js"
# Prints {provider: [{id, name, reasoning}]} for the registry module given as argv[1].
DUMP_SCRIPT = """
import(require("url").pathToFileURL(process.argv[1]).href).then((module) => {
  const out = {};
  for (const [provider, models] of Object.entries(module.MODELS)) {
    out[provider] = Object.values(models).map((m) => ({id: m.id, name: m.name || m.id,
                                                      reasoning: Boolean(m.reasoning),
                                                      baseUrl: m.baseUrl || "", api: m.api || "",
                                                      contextWindow: m.contextWindow || 0,
                                                      cost: m.cost || null}));
  }
  process.stdout.write(JSON.stringify(out));
});
"""


@dataclass(frozen=True)
class ModelCost:
    """pi's prices for a model, US dollars per million tokens (its base tier)."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0


@dataclass(frozen=True)
class ModelOption:
    id: str
    name: str
    reasoning: bool = False
    # Where pi sends this model's calls and in which wire shape (the gateway's upstream).
    base_url: str = ""
    api: str = ""
    context_window: int = 0
    cost: ModelCost | None = None


@dataclass
class ProviderModels:
    name: str
    label: str
    models: list[ModelOption] = field(default_factory=list)
    has_key: bool = False
    custom: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "has_key": self.has_key,
            "custom": self.custom,
            "models": [{"id": m.id, "name": m.name, "reasoning": m.reasoning} for m in self.models],
        }


@lru_cache(maxsize=1)
def pi_registry() -> dict[str, list[ModelOption]]:
    # The project's pinned Node (the one pi runs with), else the system's: the registry
    # module loads on either.
    pinned = settings.BASE_DIR / "node_modules" / ".bin" / "node"
    node = str(pinned) if pinned.exists() else shutil.which("node")
    module = settings.BASE_DIR / "node_modules" / REGISTRY_MODULE
    if node is None or not module.exists():
        return {}
    try:
        completed = subprocess.run(
            [node, "-e", DUMP_SCRIPT, str(module)],
            capture_output=True,
            timeout=20,
            check=True,
        )
        raw = json.loads(completed.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        logger.warning("could not read pi's model registry", exc_info=True)
        return {}
    return {provider: [_model_option(m) for m in models] for provider, models in raw.items()}


def _model_option(m: dict[str, object]) -> ModelOption:
    cost = m.get("cost")
    model_cost = None
    if isinstance(cost, dict):
        try:
            model_cost = ModelCost(
                float(cost.get("input") or 0),
                float(cost.get("output") or 0),
                float(cost.get("cacheRead") or 0),
                float(cost.get("cacheWrite") or 0),
            )
        except (TypeError, ValueError):
            model_cost = None
    return ModelOption(
        str(m["id"]),
        str(m.get("name") or m["id"]),
        bool(m.get("reasoning")),
        base_url=str(m.get("baseUrl") or "").rstrip("/"),
        api=str(m.get("api") or ""),
        context_window=int(m.get("contextWindow") or 0),  # type: ignore[call-overload]
        cost=model_cost,
    )


def providers_for(organisation: Organisation) -> list[ProviderModels]:
    """The organisation's custom providers, then every built-in provider (those with a key
    first)."""
    registry = pi_registry()
    keys = set(organisation.api_keys_set_at)
    listed = [
        ProviderModels(
            name=provider.name,
            label=f"{provider.name} (custom)",
            models=[ModelOption(model_id, model_id) for model_id in provider.model_ids],
            has_key=True,
            custom=True,
        )
        for provider in CustomProvider.objects.filter(organisation_id=organisation.pk)
    ]
    built_in = [
        ProviderModels(
            name=name,
            label=PROVIDER_LABELS.get(name, name),
            models=list(registry.get(name, [])),
            has_key=name in keys,
        )
        for name in PROVIDER_ENV_VARS
    ]
    built_in.sort(key=lambda provider: not provider.has_key)
    return listed + built_in
