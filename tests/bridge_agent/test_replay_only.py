"""``GET /starter/events?after=N&replay_only=1``: the kept events after N, then the end."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.bridge_process import BridgeProcess


def _events(body: str) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def _notify_until(bridge: BridgeProcess, count: int) -> None:
    """Put real events in the log: every app port change is an `app_port` event."""
    with bridge.client() as client:
        for port in range(4000, 4000 + count):
            assert client.post("/starter/config", json={"app_port": port}).status_code == 200


def test_replay_only_sends_the_events_after_the_cursor_and_ends(tmp_path: Path) -> None:
    with BridgeProcess(tmp_path / "home") as bridge:
        _notify_until(bridge, 5)
        with bridge.client(timeout=10) as client:
            response = client.get("/starter/events", params={"after": "2", "replay_only": "1"})
        assert response.status_code == 200
        events = _events(response.text)
        last_id = int(response.headers["x-starter-last-event-id"])
        assert [e["id"] for e in events] == list(range(3, last_id + 1))
        assert last_id >= 5


def test_replay_only_at_the_end_of_the_log_is_empty_but_says_where_the_log_is(
    tmp_path: Path,
) -> None:
    with BridgeProcess(tmp_path / "home") as bridge:
        _notify_until(bridge, 2)
        with bridge.client(timeout=10) as client:
            last = int(
                client.get("/starter/events", params={"after": "0", "replay_only": "1"}).headers[
                    "x-starter-last-event-id"
                ]
            )
            # The bridge writes events of its own (its first inspect scan's
            # ``inspect_changed``) whenever they happen: a round that saw one asks again from
            # its end, until a round finds the log's end where the last one left it.
            for _ in range(5):
                response = client.get(
                    "/starter/events", params={"after": str(last), "replay_only": "1"}
                )
                events = _events(response.text)
                if not events:
                    break
                assert all(int(str(event["id"])) > last for event in events)
                last = int(response.headers["x-starter-last-event-id"])
        assert events == []
        assert response.headers["x-starter-last-event-id"] == str(last)


def test_replay_only_with_a_cursor_ahead_of_the_log_is_a_reset(tmp_path: Path) -> None:
    with BridgeProcess(tmp_path / "home") as bridge:
        _notify_until(bridge, 1)
        with bridge.client(timeout=10) as client:
            response = client.get(
                "/starter/events", params={"replay_only": "1"}, headers={"Last-Event-ID": "999"}
            )
        events = _events(response.text)
        assert [e["type"] for e in events] == ["reset"]


def test_replay_only_without_a_cursor_is_a_clear_400(tmp_path: Path) -> None:
    with BridgeProcess(tmp_path / "home") as bridge:
        response = httpx.get(f"{bridge.url}/starter/events?replay_only=1", headers=bridge.headers)
        assert response.status_code == 400
        assert "cursor" in response.json()["message"]
