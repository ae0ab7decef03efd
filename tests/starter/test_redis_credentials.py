"""Every Redis client of Starter takes its credentials from REDIS_URL: an operator who
gives Redis a password (``requirepass``) or an ACL user gets them used everywhere, and a
URL without them fails with Redis's own authentication error, not a hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.starter.redis_clients_probe import CLIENTS

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-redis"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def protected_redis() -> Iterator[int]:
    """A throwaway Redis: the default user needs PASSWORD, and so does the ACL user `starter`,
    which has the README's ACL (everything but the admin commands)."""
    port = _free_port()
    server = subprocess.Popen(
        [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            "--requirepass", PASSWORD,
            "--user", "starter", "on", f">{PASSWORD}", "~*", "&*", "+@all", "-@admin",
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port, password=PASSWORD)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def probe_clients(redis_url: str) -> dict[str, str]:
    environment = dict(os.environ, REDIS_URL=redis_url)
    for inherited in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        environment.pop(inherited, None)
    result = subprocess.run(
        [sys.executable, "-m", "tests.starter.redis_clients_probe"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcomes = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert set(outcomes) == set(CLIENTS), result.stdout
    return outcomes


@pytest.mark.parametrize("credentials", ["starter", ""], ids=["acl-user", "requirepass"])
def test_every_client_connects_with_the_credentials_in_redis_url(
    protected_redis: int, credentials: str
) -> None:
    outcomes = probe_clients(f"redis://{credentials}:{PASSWORD}@127.0.0.1:{protected_redis}/0")
    assert outcomes == dict.fromkeys(CLIENTS, "ok")


def test_without_the_password_every_client_fails_with_an_authentication_error(
    protected_redis: int,
) -> None:
    outcomes = probe_clients(f"redis://127.0.0.1:{protected_redis}/0")
    for client, outcome in outcomes.items():
        assert "Authentication" in outcome or "NOAUTH" in outcome, (client, outcome)


def test_a_wrong_password_fails_too(protected_redis: int) -> None:
    outcomes = probe_clients(f"redis://starter:wrong@127.0.0.1:{protected_redis}/0")
    for client, outcome in outcomes.items():
        assert outcome != "ok" and "password" in outcome.lower(), (client, outcome)
