"""Live events to websockets (Channels): a project's bridge events and lifecycle progress,
and the home screen's badges.

Who does what, in the order an event travels:

* ``projects/bridge/events.py`` (not in this package) reads the bridge's
  ``GET /starter/events`` stream: ``SseEvent``, ``open_event_stream``, ``Replay``,
  ``bridge_target``. Everything here that talks to a bridge goes through it.
* ``upstream.py``: ``UpstreamCandidate``. Every feed runs one; at most one per project, in any
  process, holds the project's Redis lock, follows the live stream and publishes each
  event to the project's Redis pub/sub channel (and ``relay.state`` to the channel group).
* ``feed.py``: ``ProjectFeed`` (this process's subscription to one project: the channel
  group ``project.<public_id>`` plus the pub/sub channel) and ``RelayHub`` (the feeds of
  one event loop). A feed hands each batch to every local viewer; the frame is built once.
* ``consumers.py``: ``ProjectEventsConsumer`` (``/ws/projects/<public_id>/``: subscribe,
  catch up with a ``Replay``, then live, each event exactly once and in order) and
  ``HomeConsumer`` (``/ws/home/``: ``lifecycle.update`` for the person's badges).
* ``supervision.py``: ``supervise``, the loop every long-lived task above runs under (a feed's
  two readers and its candidate, the home socket's reader): a lost Redis is retried with
  backoff and jitter, anything else is logged at ERROR naming the task, which runs again.
  After a lost Redis the feed tells its viewers ``upstream_down``, re-joins and re-subscribes,
  reads the holder's state (``wire.state_key``) and has each viewer catch up from the bridge.
* ``wire.py``: Redis key names, the pub/sub record format, websocket frames, relay states.
* ``auth.py``: who is on the other end of a websocket (API token, or the dashboard's
  session from the dashboard's own origin only).
* ``routing.py``: the websocket URL patterns, mounted by ``starter/asgi.py``.
* ``projects/broadcast.py`` (shared): the channel-layer contract (``lifecycle.update``,
  ``relay.state``) that the lifecycle publishes and the feed receives.

The cursors of the event path (all are bridge event ids: one rising sequence per bridge
log; only a ``reset`` event can lower them):

* **event id** (``id:`` on the stream, ``SseEvent.id``, ``"id"`` in the envelope): the
  bridge log's id of an event.
* **Last-Event-ID** (request header to the bridge, or to ``GET /api/v1/projects/{id}/events``;
  ``?after=N`` there too): "I have everything up to N; send what comes after".
* **log position** (response header ``x-starter-last-event-id``; ``EventStream.log_position``):
  the log's last id when the stream opened. A live-only stream starts there; a replay-only
  stream ends there.
* **Replay.last_id**: the log position of a replay: after a complete replay, the viewer has
  everything up to it, even if no event was replayed.
* **relay cursor** (Redis ``<prefix>:relay:cursor:<public_id>``, ``wire.cursor_key``): the
  last id the upstream holder published; a successor holder resumes from it.
* **previous_id** (in each pub/sub record): the id its publisher published before this
  event (for the first event of a fresh stream, the log position). A viewer whose
  ``last_sent`` is below it has missed something and catches up with a ``Replay``.
* **after** (the websocket's ``{"type": "subscribe", "after": N}``): the client's cursor;
  ``null`` means live only, ``0`` everything kept.
* **last_sent** (``ProjectEventsConsumer``): the highest id this socket has sent; events at or
  below it are dropped as duplicates. **last_reset**: the id of the last ``reset`` sent, so
  the same reset from a replay and from the live stream goes out once.
* **last_event_id** (``bridge.agent.history``, the bridge's ``/starter/state``): the log
  position read *before* a session's messages; the browser subscribes with it as ``after``
  (``startCursor`` in the workspace script, ``cursor`` in ``LiveSocket``).
"""
