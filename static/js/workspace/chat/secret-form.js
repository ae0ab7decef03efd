// @ts-check
// The form a `request_secret` tool card shows: the person types the value, the page saves
// it for the project, and the agent only ever learns the name.

import { el } from "../../lib/dom.js";

/**
 * @typedef {object} SecretFormOptions
 * @property {string[]} savedNames the project's secrets that are set (kept up to date here)
 * @property {(name: string, value: string) => Promise<unknown>} save stores the value
 * @property {(name: string) => void} saved called once it is stored
 * @property {(message: string) => void} failed called with a message for people
 */

/**
 * @param {{name?: unknown, reason?: string}} args the tool call's arguments
 * @param {SecretFormOptions} options
 * @returns {HTMLFormElement}
 */
export function secretForm(args, options) {
  const name = String(args.name || "").trim().toUpperCase().replace(/[^A-Z0-9_]/g, "_");
  const form = el("form", "secret-form");
  form.dataset.secretName = name;
  if (options.savedNames.indexOf(name) >= 0) {
    form.appendChild(el("p", "secret-saved", "✓ " + name + " is set. Its value is never shown."));
    return form;
  }
  form.appendChild(el("p", "secret-reason", args.reason || "The agent needs this credential."));
  const id = "secret-" + name + "-" + Math.random().toString(36).slice(2, 8);
  const label = el("label", null, "Value for " + name);
  label.htmlFor = id;
  const input = el("input");
  input.type = "password";
  input.id = id;
  input.autocomplete = "off";
  input.required = true;
  const button = el("button", "button button-primary button-small", "Save secret");
  button.type = "submit";
  const row = el("div", "row");
  row.append(input, button);
  const hint = el("p", "muted small", "Stored encrypted for this project; the agent gets it as $" + name + ", never in the chat.");
  form.append(label, row, hint);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value;
    if (!value) { input.focus(); return; }
    button.disabled = true;
    options.save(name, value).then(() => {
      input.value = "";
      options.savedNames.push(name);
      form.textContent = "";
      form.appendChild(el("p", "secret-saved", "✓ " + name + " saved. New commands get it now; the agent picks it up when its current run ends, and is told it is set (never its value)."));
      options.saved(name);
    }, (error) => {
      button.disabled = false;
      options.failed(error.message);
    });
  });
  return form;
}

/**
 * Saving a secret hands it to the machine without a restart; the agent's pi process gets it
 * when it restarts, at once if idle or when its current run ends. Tell the agent (by name
 * only) once it has it: `environment_changed` with `applied: "now"`, or its session coming
 * back for it; or after a while, whatever happened.
 * @param {{cursor: number | null, ring: any[]}} events the workspace's recent events
 * @param {{sendText: (text: string, mode: string) => Promise<unknown>, note: (text: string, kind: string) => void}} chat
 * @param {string} name
 */
export function tellAgentOnceBack(events, chat, name) {
  const since = events.cursor || 0;
  const started = Date.now();
  const timer = setInterval(() => {
    const applied = events.ring.some((event) => event.id > since && (
      (event.type === "environment_changed" && event.data && event.data.applied === "now")
      || (event.type === "session_started" && event.data && event.data.reason === "environment")));
    if (applied || Date.now() - started > 60000) {
      clearInterval(timer);
      chat.sendText("I saved the secret " + name + ". It is available to you as the environment variable $" + name + ".", "follow_up")
        .catch((error) => { chat.note(error.message, "error"); });
    }
  }, 500);
}
