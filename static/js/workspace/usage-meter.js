// @ts-check
// Model usage in the workspace: the top bar's "today · this month" for the project, and a
// meter in each chat (the session's tokens and cost, and how full the model's context
// window was at the last call).
//
// Every number is a sum of the gateway's ledger, sent whole after each call
// (`{"kind": "gateway", "payload": {"kind": "usage", …}}`, gateway/usage_live.py) or read
// from the server when a chat opens: nothing is added up here, so a frame seen twice, a
// reconnect, or an event printed inside the machine cannot change what is shown.

import { json } from "../lib/http.js";
import { el } from "../lib/dom.js";

/**
 * Totals as the server sends them (gateway/usage.py `Totals.as_json`).
 * @typedef {object} Totals
 * @property {number} calls
 * @property {number} tokens
 * @property {number} input_tokens
 * @property {number} output_tokens
 * @property {number} cache_read_tokens
 * @property {number} cache_write_tokens
 * @property {string} cost
 * @property {number} unpriced_calls
 * @property {string} cost_label
 */

/**
 * @typedef {object} UsageSnapshot
 * @property {string} [session_id]
 * @property {Totals | null} [session]
 * @property {Totals} [today]
 * @property {Totals} [month]
 * @property {any} [call] the latest call: tokens, cost_label, context_tokens, context_window
 */

/** @param {number} value */
function count(value) { return Number(value || 0).toLocaleString("en-US"); }

/**
 * @param {object} options
 * @param {string} options.url the project's usage snapshot (projects/dashboard/usage.py)
 * @param {{today?: Totals, month?: Totals}} options.initial from the page's config
 * @param {() => any[]} options.views the chat views on the page
 */
export function createUsageMeter({ url, initial, views }) {
  /** @type {{today: Totals | null, month: Totals | null}} */
  const project = { today: initial.today || null, month: initial.month || null };

  function showProject() {
    const bar = document.getElementById("project-usage");
    if (!bar) { return; }
    /** @type {[string, Totals | null][]} */
    const periods = [["today", project.today], ["month", project.month]];
    periods.forEach(([name, totals]) => {
      const node = bar.querySelector("[data-usage-period=" + name + "]");
      if (node && totals) { node.textContent = totals.cost_label; }
    });
    if (project.month) {
      bar.title = "This project's model use this month: " + project.month.cost_label + ", " +
        count(project.month.tokens) + " tokens in " + count(project.month.calls) + " calls";
    }
  }

  /** @param {any} view @returns {HTMLElement} */
  function meterOf(view) {
    if (view.usageMeter) { return view.usageMeter; }
    const node = el("div", "usage-meter");
    node.hidden = true;
    node.setAttribute("aria-label", "Model use of this session");
    node.setAttribute("role", "group");
    const totals = el("span", "usage-meter-totals");
    totals.dataset.usageSession = "";
    const context = el("span", "usage-meter-context");
    const label = el("span", "usage-meter-context-label");
    const bar = /** @type {HTMLMeterElement} */ (el("meter", "usage-meter-bar"));
    bar.min = 0;
    bar.setAttribute("aria-label", "Context window used at the last call");
    context.append(bar, label);
    node.append(totals, context);
    view.root.insertBefore(node, view.composer || null);
    view.usageMeter = node;
    return node;
  }

  /** @param {any} view @param {UsageSnapshot} snapshot */
  function showSession(view, snapshot) {
    const node = meterOf(view);
    const session = snapshot.session;
    // Sums only grow: an older frame arriving late never takes a meter back.
    const shown = Number(node.dataset.calls || 0);
    if (!session || !session.calls || session.calls < shown) { node.hidden = !shown; return; }
    node.dataset.calls = String(session.calls);
    node.hidden = false;
    const totals = /** @type {HTMLElement} */ (node.querySelector(".usage-meter-totals"));
    totals.textContent = count(session.tokens) + " tokens · " + session.cost_label +
      " · " + count(session.calls) + (session.calls === 1 ? " call" : " calls");
    totals.title = "In " + count(session.input_tokens) + " · out " + count(session.output_tokens) +
      " · cache read " + count(session.cache_read_tokens) + " · cache write " + count(session.cache_write_tokens);
    const call = snapshot.call;
    const context = /** @type {HTMLElement} */ (node.querySelector(".usage-meter-context"));
    context.hidden = !call || !call.context_window;
    if (call && call.context_window) {
      const bar = /** @type {HTMLMeterElement} */ (node.querySelector("meter"));
      bar.max = call.context_window;
      bar.high = call.context_window * 0.8;
      bar.optimum = 0;
      bar.value = Math.min(call.context_tokens, call.context_window);
      const percent = Math.round(100 * call.context_tokens / call.context_window);
      /** @type {HTMLElement} */ (node.querySelector(".usage-meter-context-label")).textContent =
        "context " + count(call.context_tokens) + " / " + count(call.context_window) + " (" + percent + "%)";
    }
  }

  const meter = {
    /**
     * A usage frame: the project's totals, and the meters of the chats on that session.
     * @param {UsageSnapshot} payload
     */
    apply(payload) {
      if (payload.today) { project.today = payload.today; }
      if (payload.month) { project.month = payload.month; }
      showProject();
      if (!payload.session_id) { return; }
      views().forEach((view) => {
        if (view.session && view.session.id === payload.session_id) {
          showSession(view, payload);
          view.refreshSessions();  // the picker shows the session's cost too
        }
      });
    },
    /**
     * A chat shows a session (at open, on a switch): its numbers from the server.
     * @param {any} view @param {string} sessionId
     */
    bind(view, sessionId) {
      const node = meterOf(view);
      node.hidden = true;
      delete node.dataset.calls;
      json(url, { session_id: sessionId }).then((snapshot) => {
        if (view.session && view.session.id === sessionId) { meter.apply(snapshot); }
      }, () => { /* the meter is a convenience: the chat works without it */ });
    },
  };
  showProject();
  return meter;
}
