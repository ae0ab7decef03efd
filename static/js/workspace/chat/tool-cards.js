// @ts-check
// Tool cards: one collapsible card per tool call in the transcript, with its input, its
// output as it streams, and its state (queued, running, done, failed).

import { el } from "../../lib/dom.js";
import * as render from "../../lib/render.js";

/**
 * What the page knows of a running tool (chat/session.js `applyTool`).
 * @typedef {object} LiveTool
 * @property {string} output
 * @property {boolean} done
 * @property {boolean} isError
 * @property {boolean} [running]
 * @property {any} [details]
 */

/** @param {unknown} value */
export function shortJson(value) {
  try { return JSON.stringify(value, null, 2); } catch (error) { return String(value); }
}

/** @param {any} call */
function toolSummary(call) {
  const args = call.arguments || {};
  if (typeof args.command === "string") { return args.command; }
  if (typeof args.path === "string") { return args.path; }
  if (typeof args.message === "string") { return args.message; }
  if (typeof args.name === "string") { return args.name; }
  const text = JSON.stringify(args);
  return text === "{}" ? "" : text;
}

/**
 * A card for the tool call `call`.
 * @param {any} call pi's tool call: {id, name, arguments}
 * @param {object} options
 * @param {LiveTool | null} [options.live] what is known of it while it runs
 * @param {Node | null} [options.extra] shown open below the output (the secret form)
 * @param {string} options.projectUrl a project's page, with PUBLIC_ID for its id
 * @returns {HTMLDetailsElement}
 */
export function toolCard(call, options) {
  const card = el("details", "tool-card");
  card.dataset.toolCallId = call.id || "";
  card.dataset.toolName = call.name || "";
  const summary = el("summary", "tool-head");
  summary.append(el("span", "tool-name", call.name || "tool"),
    el("code", "tool-summary", toolSummary(call)), el("span", "tool-state", "queued"));
  card.appendChild(summary);
  const body = el("div", "tool-body");
  body.appendChild(el("div", "tool-label", "Input"));
  const input = el("pre", "tool-input");
  render.code(input, shortJson(call.arguments || {}), "json");
  body.appendChild(input);
  body.appendChild(el("div", "tool-label", "Output"));
  body.appendChild(el("pre", "tool-output", ""));
  card.appendChild(body);
  if (options.extra) {
    card.open = true;
    body.appendChild(options.extra);
  }
  if (options.live) { fillCard(card, options.live, options.projectUrl); }
  return card;
}

/**
 * The card of `toolCallId` within `scope`, if there is one.
 * @param {ParentNode} scope
 * @param {string | undefined} toolCallId
 * @returns {HTMLElement | null}
 */
export function findCard(scope, toolCallId) {
  if (!toolCallId) { return null; }
  const cards = scope.querySelectorAll(".tool-card[data-tool-call-id]");
  for (let i = 0; i < cards.length; i += 1) {
    const card = /** @type {HTMLElement} */ (cards[i]);
    if (card.dataset.toolCallId === toolCallId) { return card; }
  }
  return null;
}

/**
 * Show a tool's state and output on its card.
 * @param {HTMLElement} card
 * @param {LiveTool} state
 * @param {string} projectUrl
 */
export function fillCard(card, state, projectUrl) {
  markTouchedProject(card, state.details, projectUrl);
  const label = card.querySelector(".tool-state");
  const pre = card.querySelector(".tool-output");
  const { output, isError, done, running } = state;
  if (pre) { pre.textContent = output || (done ? "(no output)" : ""); }
  card.classList.toggle("tool-error", Boolean(isError));
  card.classList.toggle("tool-running", Boolean(running) && !done);
  card.classList.toggle("tool-done", Boolean(done));
  if (label) { label.textContent = done ? (isError ? "failed" : "done") : (running ? "running" : "queued"); }
}

/**
 * The general agent's tools that write (sprite_write, sprite_exec, create_project) say in
 * their result details which project they touched: the card links to it.
 * @param {HTMLElement} card
 * @param {any} details
 * @param {string} projectUrl
 */
function markTouchedProject(card, details, projectUrl) {
  const project = details && details.project;
  if (!project || !project.id || card.querySelector(".tool-project")) { return; }
  const link = el("a", "tool-project", "→ " + (project.name || project.id));
  link.href = projectUrl.replace("PUBLIC_ID", encodeURIComponent(project.id));
  link.title = "Open the project this tool touched";
  link.dataset.touchedProject = project.id;
  const head = card.querySelector(".tool-head");
  (head || card).appendChild(link);
}
