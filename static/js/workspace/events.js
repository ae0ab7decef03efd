// @ts-check
// The workspace's live events: the cursor, the recent-events ring, the one websocket, and
// the dispatch table that says which module handles each event type.
//
// Every event arrives here once, in order (an event at or below the cursor is dropped, so
// a replay after a reconnect never shows anything twice), goes into the ring (a session that
// is still loading replays its events from there), then to its owner in DISPATCH.

import { LiveSocket } from "../lib/live-socket.js";

const RING_SIZE = 5000;

/**
 * The modules that own event types (workspace/main.js supplies them).
 * @typedef {object} EventOwners
 * @property {(event: any) => void} session the chat session the event belongs to (chat/session.js)
 * @property {(data: any) => void} notify the agent's notify_dashboard: a toast, maybe a preview reload
 * @property {() => void} previews the app's port changed: previews reload
 * @property {() => void} sidebar the agent changed its inventory: the sidebar reloads
 * @property {(data: any) => void} serviceRun a cron run ended: the sidebar and that job's runs panels reload
 * @property {() => void} sessionList a session started or ended: chat pickers refresh
 * @property {(event: any) => void} sessionDeleted a session was archived: its panels move on
 * @property {(event: any) => void} thinking a session's thinking level changed: the model picker
 * @property {(event: any) => void} environment new secrets or keys reached the machine: say when they apply
 * @property {(event: any) => void} reset the bridge's log no longer matches our cursor
 * @property {() => void} restored a checkpoint was restored: the files changed under the chats
 * @property {(payload: any) => void} lifecycle the project's status or progress (not a bridge event)
 * @property {(payload: any) => void} gateway the model gateway's news: usage totals or a budget's state (not a bridge event)
 * @property {() => void} budget the gateway refused a call: the budget bar reads its numbers again
 * @property {(state: string) => void} connection the relay's or the socket's state
 * @property {(frame: any) => void} author who sent a prompt (not a bridge event): its message shows the name
 */

/**
 * Which owner handles each bridge event type. Session types are applied by
 * chat/session.js `apply()`; a type missing here is kept in the ring and otherwise ignored.
 * @type {Record<string, keyof EventOwners>}
 */
const DISPATCH = {
  agent_start: "session",
  agent_end: "session",
  // pi 1.6: the end of busy time (after any retries and queued messages).
  agent_settled: "session",
  auto_retry_start: "session",
  auto_retry_end: "session",
  session_info_changed: "session",
  thinking_level_changed: "thinking",
  message_start: "session",
  message_update: "session",
  message_end: "session",
  tool_start: "session",
  tool_update: "session",
  tool_end: "session",
  queue_update: "session",
  compaction_start: "session",
  compaction_end: "session",
  branch_changed: "session",
  error: "session",
  secret_requested: "session",
  notify: "notify",
  app_port: "previews",
  inspect_changed: "sidebar",
  // A supervised service changed state, was removed, or a cron run ended: the sidebar
  // shows each one's status, restarts and last run.
  service_changed: "sidebar",
  service_removed: "sidebar",
  service_run: "serviceRun",
  session_started: "sessionList",
  session_ended: "sessionList",
  // A session was archived: panels showing it move on (payload: archived_as, current).
  session_deleted: "sessionDeleted",
  // An archived session came back (payload: restored_as, archived_file): lists refresh.
  session_restored: "sessionList",
  checkpoint_restored: "restored",
  environment_changed: "environment",
  // Written by the bridge (from inside the Sprite): only makes the page re-read the budget.
  gateway_refused: "budget",
};

/**
 * @param {object} options
 * @param {string} options.socketUrl the project's websocket path (from the config)
 * @param {() => Promise<any>} options.readState the agent's state; its `last_event_id` is the bridge's cursor
 * @param {EventOwners} options.owners
 */
export function createEvents({ socketUrl, readState, owners }) {
  const events = {
    /** @type {number | null} the id of the last event applied */
    cursor: /** @type {number | null} */ (null),
    /** @type {any[]} the most recent events, oldest first */
    ring: /** @type {any[]} */ ([]),
    /** how many times the socket has opened (the e2e tests watch it) */
    connects: 0,
    /** @type {LiveSocket} */
    socket: /** @type {any} */ (null),
    /** @param {string} sessionId */
    recentEventsOf(sessionId) {
      return events.ring.filter((event) => event.session_id === sessionId);
    },
    /** @param {any} event */
    handle(event) {
      if (!event) { return; }
      if (event.type === "reset") {
        events.ring = [];
        events.cursor = Number(event && event.id) || null;
        owners.reset(event);
        return;
      }
      const id = Number(event.id);
      if (events.cursor != null && id <= events.cursor) { return; }  // never twice
      events.cursor = id;
      events.ring.push(event);
      if (events.ring.length > RING_SIZE) { events.ring.splice(0, events.ring.length - RING_SIZE); }
      const owner = DISPATCH[event.type];
      if (owner === "session") { owners.session(event); }
      else if (owner === "thinking") { owners.thinking(event); }
      else if (owner === "environment") { owners.environment(event); }
      else if (owner === "notify") { owners.notify(event.data || {}); }
      else if (owner === "serviceRun") { owners.serviceRun(event.data || {}); }
      else if (owner === "sessionDeleted") { owners.sessionDeleted(event); }
      else if (owner) { /** @type {() => void} */ (owners[owner])(); }
    },
    /**
     * The first subscription starts from the bridge's cursor, read before any history, so
     * nothing that happens while the panels load can slip between the two.
     * @returns {Promise<number>}
     */
    start() {
      if (events.cursor != null) { return Promise.resolve(events.cursor); }
      return readState().then((state) => {
        if (events.cursor == null) { events.cursor = Number(state.last_event_id) || 0; }
        events.socket.reconnectNow();
        return events.cursor;
      });
    },
  };

  events.socket = new LiveSocket(socketUrl, {
    cursor: () => events.cursor,
    onMessage(message) {
      if (message.kind === "event") { events.handle(message.event); }
      else if (message.kind === "events") { (message.events || []).forEach((/** @type {any} */ event) => { events.handle(event); }); }
      else if (message.kind === "lifecycle") { owners.lifecycle(message.payload || {}); }
      else if (message.kind === "gateway") { owners.gateway(message.payload || {}); }
      else if (message.kind === "relay") { owners.connection(message.state); }
      else if (message.kind === "author") { owners.author(message); }
      else if (message.kind === "presence") { document.dispatchEvent(new CustomEvent("starter:presence", { detail: message.watchers })); }
    },
    onState(state) {
      if (state === "open") { events.connects += 1; owners.connection("connected"); }
      else if (state === "closed" || state === "connecting") { owners.connection("reconnecting"); }
      else if (state === "not_found") { owners.connection("gone"); }
      else if (state === "logged_out") { window.location.reload(); }
    },
  });
  return events;
}
