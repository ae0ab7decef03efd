"""Run with ``python -m tests.starter.redis_clients_probe``: connects every Redis client of
Starter, configured from the environment's REDIS_URL exactly as a web process or worker
would be, and prints one ``<client>: ok`` or ``<client>: <error type>: <message>`` line each.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import django


def _work_lock() -> None:
    from starter.redis import redis_client

    client = redis_client()
    client.set("probe:work-lock", "1", ex=5)
    assert client.get("probe:work-lock") == b"1"


def _rate_limit() -> None:
    from projects.api.rate_limit import check_rate_limit

    check_rate_limit("exec", "probe")


def _channel_layer() -> None:
    from channels.layers import get_channel_layer

    async def round_trip() -> None:
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "probe.message"})
        assert (await layer.receive(channel))["type"] == "probe.message"
        await layer.flush()

    asyncio.run(round_trip())


def _relay_hub() -> None:
    from projects.relay.feed import RelayHub

    async def ping() -> None:
        hub = RelayHub()
        try:
            assert await hub.redis.ping()
        finally:
            await hub.close()

    asyncio.run(ping())


def _celery_broker() -> None:
    from starter.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        connection.default_channel.client.ping()


def _celery_results() -> None:
    from starter.celery import app

    # Retrying for 20 s (Celery's default) would only slow the failing cases down.
    app.backend.set("probe:result", b"1", max_retries=1, interval_start=0, interval_step=0)
    assert app.backend.get("probe:result") == b"1"


CLIENTS: dict[str, Callable[[], None]] = {
    "work_lock": _work_lock,
    "rate_limit": _rate_limit,
    "channel_layer": _channel_layer,
    "relay_hub": _relay_hub,
    "celery_broker": _celery_broker,
    "celery_results": _celery_results,
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "starter.settings")
    django.setup()
    for name, connect in CLIENTS.items():
        try:
            connect()
        except Exception as error:  # reported: the test reads it
            print(f"{name}: {type(error).__name__}: {error}".replace("\n", " "), flush=True)
        else:
            print(f"{name}: ok", flush=True)


if __name__ == "__main__":
    main()
