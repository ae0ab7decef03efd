// @ts-check
// Branching in a chat panel: "Edit" on your sent messages (edit and resend: the new text
// starts a branch beside the original, which stays in the session's tree, shown in the
// trace panel) and "Duplicate" (a new session holding the branch on screen).
//
// The transcript reloads when the bridge says the session changed branch (its
// `branch_changed` event, chat/session.js); the trace panel's tree reloads on the
// `starter:branches-changed` DOM event (workspace/main.js sends it).

import { el } from "../../lib/dom.js";
import { textOf } from "./session.js";

/** The DOM event that tells the trace panels to reload their trees (htmx `hx-trigger`). */
export const BRANCHES_CHANGED = "starter:branches-changed";

export function announceBranchesChanged() {
  document.body.dispatchEvent(new CustomEvent(BRANCHES_CHANGED));
}

/**
 * Give a rendered user message its Edit button.
 * @param {any} view the ChatView
 * @param {HTMLElement} node the message's <article>
 * @param {any} message
 */
export function addEditButton(view, node, message) {
  // The message is found in the session's tree by its timestamp; without one, no edit.
  if (typeof message.timestamp !== "number") { return; }
  const button = el("button", "msg-edit-button", "Edit");
  button.type = "button";
  button.title = "Edit this message and send it again (the original stays in the session's branches)";
  button.addEventListener("click", () => { startEditing(view, node, message, button); });
  node.appendChild(button);
}

/**
 * @param {any} view
 * @param {HTMLElement} node
 * @param {any} message
 * @param {HTMLButtonElement} editButton
 */
function startEditing(view, node, message, editButton) {
  if (node.querySelector(".msg-edit")) { return; }
  const shown = /** @type {HTMLElement | null} */ (node.querySelector(".msg-text"));
  const form = el("form", "msg-edit");
  const input = el("textarea");
  input.value = textOf(message.content);
  input.rows = Math.min(10, Math.max(2, input.value.split("\n").length));
  input.setAttribute("aria-label", "Edited message");
  const actions = el("div", "msg-edit-actions");
  const cancel = el("button", "button button-small button-ghost", "Cancel");
  cancel.type = "button";
  const resendButton = el("button", "button button-small button-primary", "Resend");
  resendButton.type = "submit";
  actions.append(cancel, resendButton);
  form.append(input, actions);
  const close = () => {
    form.remove();
    if (shown) { shown.hidden = false; }
    editButton.hidden = false;
  };
  cancel.addEventListener("click", close);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); close(); }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    resendButton.disabled = true;
    resend(view, message, input.value).then(close, (/** @type {Error} */ error) => {
      resendButton.disabled = false;
      view.note(error.message, "error");
    });
  });
  if (shown) { shown.hidden = true; }
  editButton.hidden = true;
  node.appendChild(form);
  input.focus();
}

/**
 * Send `text` in place of `message`: find its entry in the session's tree (by the
 * message's timestamp, on the branch on screen), then ask for the edit.
 * @param {any} view
 * @param {any} message
 * @param {string} text
 */
async function resend(view, message, text) {
  const session = view.session;
  if (!session) { throw new Error("The chat is still loading."); }
  if (!text.trim()) { throw new Error("Write a message first."); }
  const tree = await view.workspace.api.get("agent_tree", { session_id: session.id });
  const matches = (tree.nodes || []).filter((/** @type {any} */ node) => node.message_timestamp === message.timestamp);
  const entry = matches.find((/** @type {any} */ node) => node.active) || matches[0];
  if (!entry) { throw new Error("This message is not in the session's record yet; try again in a moment."); }
  // The message's images go with the new text (the edit is of the words).
  const images = (Array.isArray(message.content) ? message.content : [])
    .filter((/** @type {any} */ part) => part && part.type === "image" && typeof part.data === "string" && typeof part.mimeType === "string")
    .map((/** @type {any} */ part) => ({ data: part.data, mimeType: part.mimeType }));
  /** @type {Record<string, unknown>} */
  const body = { session_id: session.id, entry_id: entry.id, message: text };
  if (images.length) { body.images = images; }
  await view.workspace.api.post("agent_edit", body);
  // The messages are another branch now (the bridge's branch_changed event reloads other
  // panels showing this session; this one need not wait for it).
  session.load();
  announceBranchesChanged();
}

/**
 * The toolbar's Duplicate button: a new session with the branch on screen, shown here.
 * @param {any} view the ChatView
 */
export function addDuplicateButton(view) {
  const button = el("button", "button button-small button-ghost", "Duplicate");
  button.type = "button";
  button.title = "A new session with this conversation (the branch on screen); the original stays";
  button.addEventListener("click", () => {
    if (!view.session) { return; }
    button.disabled = true;
    view.workspace.api.post("agent_clone", { session_id: view.session.id }).then((/** @type {any} */ data) => {
      view.bindTo(data.session_id);
    }, (/** @type {Error} */ error) => { view.note(error.message, "error"); }).finally(() => {
      button.disabled = false;
    });
  });
  view.toolbar.appendChild(button);
}
