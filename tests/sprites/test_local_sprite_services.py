"""Services in a real local Sprite (strict sandbox): ``starter-service`` works inside it, a
service gets the project's secrets, and it is running again after the Sprite sleeps and wakes."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import pytest

from sprites.backends import sandbox
from sprites.backends.local import LocalBackend

# Like the other strict-sandbox tests: skipped only on a developer's machine without the
# sandbox's tools (root, bubblewrap, pasta, nftables); never in CI (CI=true), where
# scripts/setup installs them and a missing one fails the test instead.
pytestmark = pytest.mark.skipif(
    sandbox.isolation_problem("strict") is not None and os.environ.get("CI") != "true",
    reason=f"strict isolation unavailable here: {sandbox.isolation_problem('strict')}",
)

TOKEN = "bridge-token-for-service-tests"
SECRET = "service-secret-5a4b3c"


async def read_when_there(backend: LocalBackend, path: str, timeout: float = 20.0) -> bytes:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            data = await backend.read_file("alpha", path)
            if data.strip():
                return data
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{path} never appeared")
        await asyncio.sleep(0.2)


async def test_a_service_in_a_sprite_uses_the_command_and_comes_back_after_a_wake(
    local_backend: LocalBackend,
) -> None:
    await local_backend.bootstrap(
        "alpha", TOKEN, {"API_KEY": SECRET, "STARTER_SECRET_NAMES": "API_KEY"}
    )
    command = (
        'starter-service list --json > listed.json; echo "$API_KEY" > key.txt;'
        " echo $$ >> pids.txt; exec sleep 1000"
    )
    endpoint = await local_backend.bridge_endpoint("alpha", TOKEN)
    async with httpx.AsyncClient(
        base_url=endpoint.base_url, headers=dict(endpoint.headers), timeout=20
    ) as client:
        created = await client.post("/starter/services", json={"name": "probe", "command": command})
        assert created.status_code == 201, created.text
    listed = json.loads(await read_when_there(local_backend, "listed.json"))
    assert [service["name"] for service in listed] == ["probe"]
    assert (await read_when_there(local_backend, "key.txt")).decode().strip() == SECRET

    await local_backend.sleep("alpha")
    await local_backend.wake("alpha")
    deadline = asyncio.get_running_loop().time() + 20
    while len((await local_backend.read_file("alpha", "pids.txt")).split()) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the service did not start again"
        await asyncio.sleep(0.2)
    endpoint = await local_backend.bridge_endpoint("alpha", TOKEN)
    async with httpx.AsyncClient(
        base_url=endpoint.base_url, headers=dict(endpoint.headers), timeout=20
    ) as client:
        service = (await client.get("/starter/services/probe")).json()
    assert service["status"] == "running" and service["desired"] == "running"
