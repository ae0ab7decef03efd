// @ts-check
// Cards for a run the model gateway stopped: "Budget reached" and the loop guard's pause
// (with "Continue" and "Stop").
//
// The card is drawn from the run's last assistant message: pi keeps the gateway's error
// text (its marker, bridge_agent/protocol.py `gateway_marker`) as `errorMessage`, so the
// card stays in the chat and comes back on reload. That text comes from inside the Sprite:
// everything here is textContent (never HTML), numbers are formatted, unknown codes draw
// nothing. What the page *does* (the composer, the budget bar) never depends on it: the
// budget state is read from the control plane (chat/budget-state.js).

import { el } from "../../lib/dom.js";

const MARKER_START = "[starter-gateway ";
const ARGS_SHOWN = 120;

/**
 * `{code, message, details}` from an error text ending with the gateway's marker, or null
 * (mirrors bridge_agent/protocol.py `parse_gateway_marker`).
 * @param {unknown} text
 * @returns {{code: string, message: string, details: Record<string, string>} | null}
 */
export function parseGatewayMarker(text) {
  if (typeof text !== "string") { return null; }
  const start = text.lastIndexOf(MARKER_START);
  if (start < 0) { return null; }
  const end = text.indexOf("]", start);
  if (end < 0) { return null; }
  /** @type {Record<string, string>} */
  const fields = Object.create(null);
  text.slice(start + MARKER_START.length, end).split(/\s+/).forEach((part) => {
    if (!part) { return; }
    const cut = part.indexOf("=");
    const key = decode(cut < 0 ? part : part.slice(0, cut));
    fields[key] = decode(cut < 0 ? "" : part.slice(cut + 1));
  });
  const code = fields.code || "";
  if (!code) { return null; }
  delete fields.code;
  return { code, message: text.slice(0, start).trim(), details: fields };
}

/** @param {string} value */
function decode(value) {
  try { return decodeURIComponent(value); } catch (error) { return value; }
}

/** @param {unknown} value a dollar amount as text */
function dollars(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) { return "?"; }
  return "$" + number.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** @param {unknown} value */
function count(value) {
  const number = Number(value);
  return Number.isFinite(number) ? String(Math.round(number)) : "?";
}

/**
 * The card for a message the gateway refused, or null (not the gateway's, or a code this
 * page does not know).
 * @param {any} view the ChatView (for its session and the workspace's API)
 * @param {any} message pi's assistant message
 * @returns {HTMLElement | null}
 */
export function gatewayCardFor(view, message) {
  if (!message || message.role !== "assistant" || message.stopReason !== "error") { return null; }
  const refusal = parseGatewayMarker(message.errorMessage);
  if (!refusal) { return null; }
  if (refusal.code === "budget_reached") { return budgetCard(view, refusal.details); }
  if (refusal.code === "loop_guard") { return guardCard(view, refusal.details); }
  return null;
}

/**
 * @param {any} view
 * @param {Record<string, string>} details
 */
function budgetCard(view, details) {
  const card = el("div", "gateway-card gateway-card-budget");
  card.setAttribute("role", "status");
  const project = details.scope === "project";
  card.appendChild(el("strong", "gateway-card-title", "Budget reached"));
  card.appendChild(el("p", null,
    (project ? "This project's monthly budget" : "The organisation's monthly budget") + ": " +
    dollars(details.spent) + " spent of " + dollars(details.limit) + ". " +
    "The agent's next model call would have gone over it, so the gateway refused it."));
  const urls = view.workspace.config.urls || {};
  const link = el("a", "gateway-card-link", project ? "Raise the project's budget" : "Raise the organisation's budget");
  link.href = project ? (urls.manage || "#") : (urls.settings_budget || "#");
  if (project) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      view.workspace.openPanel("manage", {});
    });
  }
  card.appendChild(link);
  return card;
}

/**
 * @param {any} view
 * @param {Record<string, string>} details
 */
function guardCard(view, details) {
  const card = el("div", "gateway-card gateway-card-guard");
  card.setAttribute("role", "status");
  card.appendChild(el("strong", "gateway-card-title", "The loop guard paused this run"));
  let why = "";
  if (details.rule === "repeat") {
    why = "The tool " + (details.tool || "?").slice(0, 64) + " was called " + count(details.count) +
      " times in a row with the same arguments.";
  } else if (details.rule === "calls") {
    why = "This run made " + count(details.count) + " model calls (the limit is " + count(details.limit) + ").";
  } else if (details.rule === "minutes") {
    why = "This run went on for " + count(details.count) + " minutes (the limit is " + count(details.limit) + ").";
  } else {
    why = "The run looked stuck.";
  }
  card.appendChild(el("p", null, why));
  if (details.args) {
    const args = details.args.length > ARGS_SHOWN ? details.args.slice(0, ARGS_SHOWN) + "…" : details.args;
    card.appendChild(el("code", "gateway-card-args", args));
  }
  const actions = el("div", "gateway-card-actions");
  const resume = el("button", "button button-small button-primary", "Continue");
  resume.type = "button";
  resume.title = "Go on, with the guard's limits doubled for this run";
  const stop = el("button", "button button-small", "Stop");
  stop.type = "button";
  const outcome = el("span", "gateway-card-outcome");
  outcome.setAttribute("aria-live", "polite");
  actions.append(resume, stop, outcome);
  card.appendChild(actions);
  /**
   * @param {string} name the URL's name in the workspace config
   * @param {string} done what to say once it worked
   */
  function act(name, done) {
    if (!view.session) { return; }
    resume.disabled = true;
    stop.disabled = true;
    outcome.textContent = "…";
    view.workspace.api.post(name, { session_id: view.session.id }).then((/** @type {any} */ answer) => {
      outcome.textContent = answer && answer.was_paused === false
        ? "Nothing was paused any more; the session is stopped." : done;
    }, (/** @type {any} */ error) => {
      // A stale card (already continued or stopped) says so; nothing is silent.
      outcome.textContent = error.message;
      resume.disabled = false;
      stop.disabled = false;
    });
  }
  resume.addEventListener("click", () => act("guard_continue", "Continued."));
  stop.addEventListener("click", () => act("guard_stop", "Stopped."));
  return card;
}
