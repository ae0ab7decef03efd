// @ts-check
// A chat panel's controls: the toolbar (session picker, rename, new session, compact,
// trace) and its session-name form, the composer (message box, send/steer, follow up, stop)
// and how a message is sent (with the retries that ride out a restarting machine). The ChatView (view.js) owns the state.

import { el } from "../../lib/dom.js";
import { attachImages, restoreImages, takeImages } from "./attachments.js";
import { attachSlashMenu } from "./slash-menu.js";

// bridge_agent/protocol.py MAX_SESSION_NAME_CHARS: longer names are refused.
var MAX_SESSION_NAME_CHARS = 120;

/**
 * How a session is named in the picker: its name (or id tail), when, how long.
 * @param {{id?: string, name?: string, last_activity?: string, created?: string, message_count?: number, usage?: {cost_label: string} | null}} summary
 */
export function sessionLabel(summary) {
  var tail = String(summary.id || "").slice(-6);
  var when = summary.last_activity || summary.created;
  var label = summary.name || ("Session …" + tail);
  if (when) {
    var date = new Date(when);
    if (!isNaN(date.getTime())) { label += " · " + date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }); }
  }
  if (summary.message_count) { label += " · " + summary.message_count + " msgs"; }
  // The session's model cost, from the gateway's ledger (projects/dashboard/agent.py).
  if (summary.usage) { label += " · " + summary.usage.cost_label; }
  return label;
}

/**
 * The session picker and the session buttons above the transcript.
 * @param {any} self the ChatView
 */
export function buildToolbar(self) {
  self.toolbar = el("div", "chat-toolbar");
  var label = el("label", "sr-only", "Session");
  label.htmlFor = self.uid + "-session";
  self.sessionSelect = el("select", "session-select");
  self.sessionSelect.id = self.uid + "-session";
  self.sessionSelect.addEventListener("focus", function () { self.refreshSessions(); });
  self.sessionSelect.addEventListener("change", function () {
    var value = self.sessionSelect.value;
    if (value && (!self.session || value !== self.session.id)) { self.switchTo(value); }
  });
  var renameButton = el("button", "button button-small button-ghost", "Rename");
  renameButton.type = "button";
  renameButton.title = "Give this session a name";
  renameButton.addEventListener("click", function () {
    openNameForm(self, "Rename", self.currentName(), function (name) {
      return name ? self.renameSession(name) : Promise.resolve(null);
    });
  });
  var newButton = el("button", "button button-small button-ghost", "New session");
  newButton.type = "button";
  newButton.title = "Start a new session (to name it as it starts: \"New named session…\" in Ctrl+K)";
  newButton.addEventListener("click", function () { self.newSession(); });
  var compactButton = el("button", "button button-small button-ghost", "Compact");
  compactButton.type = "button";
  compactButton.title = "Summarise older messages to free the model's context";
  compactButton.addEventListener("click", function () { self.compact(compactButton); });
  var traceButton = el("button", "button button-small button-ghost", "Trace");
  traceButton.type = "button";
  traceButton.title = "The session's raw, immutable JSONL";
  traceButton.addEventListener("click", function () {
    if (self.session) { self.workspace.openPanel("trace", { sessionId: self.session.id }); }
  });
  self.status = el("span", "chat-status");
  self.status.setAttribute("aria-live", "polite");
  self.toolbar.append(label, self.sessionSelect, renameButton, self.status, el("span", "spacer"),
    newButton, compactButton, traceButton);
  buildNameForm(self);
}

/**
 * The one-line form that names a session (rename, or name a new one), under the toolbar.
 * @param {any} self the ChatView
 */
function buildNameForm(self) {
  var form = el("form", "session-name-form");
  form.hidden = true;
  var label = el("label", "sr-only", "Session name");
  var input = el("input", "session-name-input");
  input.id = self.uid + "-session-name";
  label.htmlFor = input.id;
  input.type = "text";
  input.maxLength = MAX_SESSION_NAME_CHARS;
  input.placeholder = "Session name";
  input.autocomplete = "off";
  var submit = el("button", "button button-small button-primary", "Save");
  submit.type = "submit";
  var cancel = el("button", "button button-small button-ghost", "Cancel");
  cancel.type = "button";
  cancel.addEventListener("click", function () { form.hidden = true; });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); form.hidden = true; }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var done = self.onSessionName ? self.onSessionName(input.value.trim()) : Promise.resolve(null);
    submit.disabled = true;
    done.finally(function () { submit.disabled = false; form.hidden = true; });
  });
  form.append(label, input, submit, cancel);
  self.nameForm = form;
  self.nameInput = input;
  self.nameSubmit = submit;
}

/**
 * Show the name form with `initial`, its button saying `action`; `onName` gets the name.
 * @param {any} self the ChatView
 * @param {string} action
 * @param {string} initial
 * @param {(name: string) => Promise<any>} onName
 */
export function openNameForm(self, action, initial, onName) {
  self.nameSubmit.textContent = action;
  self.nameInput.value = initial;
  self.onSessionName = onName;
  self.nameForm.hidden = false;
  self.nameInput.focus();
  self.nameInput.select();
}

/**
 * The message box and its buttons below the transcript.
 * @param {any} self the ChatView
 */
export function buildComposer(self) {
  self.composer = el("form", "composer");
  var label = el("label", "sr-only", "Message to the agent");
  label.htmlFor = self.uid + "-input";
  self.input = el("textarea", "composer-input");
  self.input.id = self.uid + "-input";
  self.input.rows = 2;
  self.input.placeholder = "Ask the agent…  (Enter sends · Shift+Enter new line)";
  self.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      self.send(event.altKey ? "follow_up" : (self.isBusy() ? "steer" : "prompt"));
    }
  });
  self.sendButton = el("button", "button button-primary button-small", "Send");
  self.sendButton.type = "submit";
  self.followButton = el("button", "button button-small", "Follow up");
  self.followButton.type = "button";
  self.followButton.title = "Queue it for when the current run ends (Alt+Enter)";
  self.followButton.addEventListener("click", function () { self.send("follow_up"); });
  self.stopButton = el("button", "button button-small button-danger-ghost", "Stop");
  self.stopButton.type = "button";
  self.stopButton.addEventListener("click", function () { self.abort(); });
  var actions = el("div", "composer-actions");
  self.working = el("span", "composer-working", "Working…");
  actions.append(self.working, self.stopButton, self.followButton, self.sendButton);
  self.composer.append(label, self.input, actions);
  if (self.workspace && self.workspace.config && self.workspace.config.readOnly) {
    // A viewer of a shared project watches; the server refuses their prompts anyway.
    self.input.disabled = true;
    self.input.placeholder = "You are a viewer here: you can watch, not prompt.";
    [self.sendButton, self.followButton, self.stopButton].forEach(function (button) { button.disabled = true; });
    self.composer.classList.add("composer-read-only");
  }
  self.composer.addEventListener("submit", function (event) {
    event.preventDefault();
    self.send(self.isBusy() ? "steer" : "prompt");
  });
  attachImages(self);
  self.slashMenu = attachSlashMenu(self);
  self.setBusy(false);
}

// -- sending -------------------------------------------------------------------------------

/**
 * Send what the composer holds: as a prompt, a steer or a follow-up (`mode`).
 * @param {any} self the ChatView
 * @param {string} mode
 */
export function sendFromComposer(self, mode) {
  var text = self.input.value;
  if (!text.trim()) { return; }
  if (!self.session) {
    // Still finding its session (the page just opened): send once it is there.
    // If finding it failed (the machine was restarting), look for the current one again.
    var binding = self.binding || Promise.resolve(null);
    binding.then(function (session) { return session || self.bindTo(null); }).then(function (session) {
      if (session) { self.send(mode); }
    });
    return;
  }
  self.input.value = "";
  var images = takeImages(self);
  if (images) { self.session.rememberImages(text, images); }
  sendRecovering(self, text, mode, 0, images).catch(function (error) {
    if (!self.input.value) { self.input.value = text; }
    restoreImages(self, images);
    self.note(error.message, "error");
  });
}

// Right after the machine restarts (re-bootstrap, new secret) its sessions come back one
// by one: a session that never got a file is gone, and a pi process may still be
// stopping. Both are told apart by the bridge's error codes and tried again, a few times.
/**
 * @param {any} self the ChatView
 * @param {string} text
 * @param {string} mode
 * @param {number} attempt
 * @param {{data: string, mimeType: string}[] | null} [images]
 * @returns {Promise<any>}
 */
function sendRecovering(self, text, mode, attempt, images) {
  return sendText(self, text, mode, images).catch(function (error) {
    if (attempt >= 3) { throw error; }
    if (error.code === "unknown_session") {
      return self.bindTo(null).then(function () {
        return sendRecovering(self, text, mode, attempt + 1, images);
      });
    }
    if (error.code === "agent_unavailable" || error.code === "bridge_unreachable") {
      return new Promise(function (resolve) { setTimeout(resolve, 1500); }).then(function () {
        return sendRecovering(self, text, mode, attempt + 1, images);
      });
    }
    throw error;
  });
}

/**
 * Send `text` to the view's session; a prompt that meets a busy agent becomes a follow-up.
 * @param {any} self the ChatView
 * @param {string} text
 * @param {string} mode
 * @param {{data: string, mimeType: string}[] | null} [images]
 * @returns {Promise<any>}
 */
export function sendText(self, text, mode, images) {
  /** @type {Record<string, any>} */
  var body = { session_id: self.session.id, message: text, mode: mode };
  if (images && images.length) { body.images = images; }
  return self.workspace.api.post("agent_send", body).catch(function (error) {
    if (error.status === 409 && mode === "prompt") {
      // It started working meanwhile (another tab, a follow-up): queue it instead.
      body.mode = "follow_up";
      return self.workspace.api.post("agent_send", body).then(function (answer) {
        self.note("The agent was busy; your message is queued as a follow-up.", "info");
        return answer;
      });
    }
    throw error;
  });
}
