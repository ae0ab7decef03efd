"""The real pi binary through the gateway, configured the way a Sprite's pi is: the provider's
``baseUrl`` is ``<gateway>/p/<provider>`` and its key is ``$STARTER_GATEWAY_TOKEN``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bridge_agent.protocol import GATEWAY_TOKEN_VARIABLE
from gateway.models import UsageRecord
from tests.gateway.conftest import Tenant
from tests.support.live_stack import ROOT, LiveStack
from tests.support.model_server import API_KEY, ScriptedModelServer, pi_models_config

pytestmark = pytest.mark.django_db(transaction=True)


def test_pi_answers_through_the_gateway_and_the_call_is_metered(
    gateway_stack: LiveStack,
    tenant: Tenant,
    scripted_model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    agent_dir = tmp_path / "home" / ".pi" / "agent"
    agent_dir.mkdir(parents=True)
    models = pi_models_config(f"{gateway_stack.url}/gateway/p/fake")
    models["providers"]["fake"]["apiKey"] = "$" + GATEWAY_TOKEN_VARIABLE  # no provider key
    (agent_dir / "models.json").write_text(json.dumps(models))
    (agent_dir / "settings.json").write_text(
        json.dumps({"defaultProvider": "fake", "defaultModel": "fake-model", "quietStartup": True})
    )
    environment = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "PI_CODING_AGENT_DIR": str(agent_dir),
        GATEWAY_TOKEN_VARIABLE: tenant.token,
    }
    before = len(scripted_model_server.requests)
    node = ROOT / "node_modules" / ".bin" / "node"
    completed = subprocess.run(
        [str(node), str(ROOT / "node_modules" / ".bin" / "pi"), "-p", "[[usage: 1234 56 7]] hi"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert "Scripted answer: hi" in completed.stdout, completed.stderr[-2000:]
    assert len(scripted_model_server.requests) == before + 1
    assert scripted_model_server.keys[-1] == API_KEY  # swapped in by the gateway
    row = UsageRecord.objects.get(project=tenant.project)
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens) == (1234, 56, 7)
    assert row.model == "fake-model" and row.complete
