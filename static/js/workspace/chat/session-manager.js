// @ts-check
// The session picker's list of sessions to manage: rename or delete each one, in place.
// Deleting asks first (an inline confirmation, never window.confirm); a deleted session's
// trace is archived in the machine (the bridge moves its file), and every open page hears
// of it through the `session_deleted` event (view.js `sessionDeleted`). "Archived sessions"
// lists the archive, each with Restore: the session comes back whole to every list (the
// `session_restored` event tells the other pages). Names in the archive come from the
// machine: they are shown as text only.

import { el } from "../../lib/dom.js";
import { sessionLabel } from "./composer.js";

// bridge_agent/protocol.py MAX_SESSION_NAME_CHARS: longer names are refused.
var MAX_SESSION_NAME_CHARS = 120;

/**
 * @typedef {{id: string, name?: string | null, busy?: boolean, current?: boolean}} SessionSummary
 */

/**
 * The "Manage" button (for the toolbar) and the list it opens (`self.sessionManager`,
 * placed under the toolbar by the view).
 * @param {any} self the ChatView
 * @returns {HTMLButtonElement}
 */
export function buildSessionManager(self) {
  var panel = el("section", "session-manager");
  panel.id = self.uid + "-sessions";
  panel.hidden = true;
  panel.setAttribute("aria-label", "Manage sessions");
  var list = el("ul", "session-manager-list");
  var close = el("button", "button button-small button-ghost", "Done");
  close.type = "button";
  // What the last rename or delete did, read out by screen readers.
  var status = el("p", "session-manager-status");
  status.setAttribute("role", "status");
  var archivedList = el("ul", "session-manager-list session-manager-archived");
  archivedList.id = self.uid + "-archived";
  archivedList.hidden = true;
  archivedList.setAttribute("aria-label", "Archived sessions");
  var archivedToggle = el("button", "button button-small button-ghost session-manager-archived-toggle", "Archived sessions");
  archivedToggle.type = "button";
  archivedToggle.setAttribute("aria-controls", archivedList.id);
  archivedToggle.setAttribute("aria-expanded", "false");
  archivedToggle.addEventListener("click", function () {
    archivedList.hidden = !archivedList.hidden;
    archivedToggle.setAttribute("aria-expanded", String(!archivedList.hidden));
    if (!archivedList.hidden) { refreshArchived(self); }
  });
  panel.append(list, archivedToggle, archivedList, status, close);
  var toggle = /** @type {HTMLButtonElement} */ (el("button", "button button-small button-ghost", "Manage"));
  toggle.type = "button";
  toggle.title = "Rename or delete sessions";
  toggle.setAttribute("aria-controls", panel.id);
  toggle.setAttribute("aria-expanded", "false");
  /** @param {boolean} open */
  function show(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) { self.refreshSessions(); } else { toggle.focus(); }
  }
  toggle.addEventListener("click", function () { show(panel.hidden); });
  close.addEventListener("click", function () { show(false); });
  panel.addEventListener("keydown", function (event) {
    // Escape closes an open form first (its own handler), then the list.
    if (event.key === "Escape" && !event.defaultPrevented) { event.preventDefault(); show(false); }
  });
  self.sessionManager = panel;
  self.sessionManagerList = list;
  self.sessionManagerStatus = status;
  self.sessionManagerDone = close;
  self.sessionManagerArchived = archivedList;
  return toggle;
}

/**
 * Read the archive again, when its list is open.
 * @param {any} self the ChatView
 */
export function refreshArchived(self) {
  var list = self.sessionManagerArchived;
  if (!list || list.hidden || self.sessionManager.hidden) { return; }
  self.workspace.api.get("agent_sessions_archived").then(function (/** @type {any} */ data) {
    if (list.querySelector("form")) { return; }
    list.textContent = "";
    var archived = Array.isArray(data.archived) ? data.archived : [];
    archived.forEach(function (/** @type {any} */ entry) { list.appendChild(archivedRow(self, entry)); });
    if (!archived.length) { list.appendChild(el("li", "session-manager-empty", "No archived sessions.")); }
  }, function (/** @type {Error} */ error) {
    list.textContent = "";
    list.appendChild(el("li", "session-manager-problem", error.message));
  });
}

/**
 * @param {any} self the ChatView
 * @param {{file: string, id: string, name?: string | null, archived_at?: string | null, message_count?: number}} entry
 */
function archivedRow(self, entry) {
  var row = el("li", "session-manager-row");
  row.dataset.archivedFile = entry.file;
  var title = entry.name || sessionLabel({ id: entry.id });
  var when = entry.archived_at ? new Date(entry.archived_at) : null;
  var detail = (when && !isNaN(when.getTime()) ? " · archived " + when.toLocaleString() : "") +
    " · " + (entry.message_count || 0) + " messages";
  var name = el("span", "session-manager-name", title);
  name.appendChild(el("span", "session-manager-tag", detail));
  var restore = el("button", "button button-small button-ghost", "Restore");
  restore.type = "button";
  restore.setAttribute("aria-label", "Restore " + title);
  var problem = el("span", "session-manager-problem");
  problem.setAttribute("role", "alert");
  row.append(name, restore, problem);
  restore.addEventListener("click", function () {
    restore.disabled = true;
    self.workspace.api.post("agent_session_restore", { file: entry.file })
      .then(function () {
        self.sessionManagerStatus.textContent = "Restored “" + title + "”.";
        self.sessionManagerDone.focus();
        self.refreshSessions();
      }, function (/** @type {Error} */ error) {
        problem.textContent = error.message;
        restore.disabled = false;
      });
  });
  return row;
}

/**
 * Show `sessions` in the list (when it is open): each with Rename and Delete.
 * @param {any} self the ChatView
 * @param {SessionSummary[]} sessions
 */
export function renderSessionManager(self, sessions) {
  var list = self.sessionManagerList;
  if (!list || self.sessionManager.hidden) { return; }
  // A form someone is typing in is not swept away by a refresh (an event from elsewhere).
  if (list.querySelector("form")) { return; }
  list.textContent = "";
  sessions.forEach(function (summary) { list.appendChild(sessionRow(self, summary)); });
  if (!sessions.length) { list.appendChild(el("li", "session-manager-empty", "No sessions yet.")); }
}

/**
 * @param {any} self the ChatView
 * @param {SessionSummary} summary
 */
function sessionRow(self, summary) {
  var row = el("li", "session-manager-row");
  row.dataset.sessionId = summary.id;
  var title = summary.name || sessionLabel({ id: summary.id });
  var name = el("span", "session-manager-name", sessionLabel(summary));
  if (summary.current) { name.appendChild(el("span", "session-manager-tag", " (current)")); }
  var rename = el("button", "button button-small button-ghost", "Rename");
  rename.type = "button";
  rename.setAttribute("aria-label", "Rename " + title);
  var remove = el("button", "button button-small button-danger-ghost", "Delete");
  remove.type = "button";
  remove.setAttribute("aria-label", "Delete " + title);
  var actions = el("span", "session-manager-actions");
  actions.append(rename, remove);
  row.append(name, actions);
  rename.addEventListener("click", function () {
    actions.replaceWith(renameForm(self, summary, title, function () { restore(rename); }));
  });
  remove.addEventListener("click", function () {
    actions.replaceWith(confirmForm(self, summary, title, function () { restore(remove); }));
  });
  /** @param {HTMLElement} button put the buttons back, focus where the person was */
  function restore(button) {
    var open = row.querySelector("form");
    if (open) { open.replaceWith(actions); }
    button.focus();
  }
  return row;
}

/**
 * @param {any} self the ChatView
 * @param {SessionSummary} summary
 * @param {string} title
 * @param {() => void} done
 */
function renameForm(self, summary, title, done) {
  var form = el("form", "session-manager-form");
  var label = el("label", "sr-only", "New name for " + title);
  var input = /** @type {HTMLInputElement} */ (el("input", "session-name-input"));
  input.id = self.uid + "-rename-" + summary.id;
  label.htmlFor = input.id;
  input.type = "text";
  input.maxLength = MAX_SESSION_NAME_CHARS;
  input.value = summary.name || "";
  input.autocomplete = "off";
  var save = el("button", "button button-small button-primary", "Save");
  save.type = "submit";
  var cancel = cancelButton(done);
  var problem = el("span", "session-manager-problem");
  problem.setAttribute("role", "alert");
  form.append(label, input, save, cancel, problem);
  onEscape(form, done);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var name = input.value.trim();
    if (!name) { problem.textContent = "Write a name first."; input.focus(); return; }
    save.disabled = true;
    self.workspace.api.post("agent_session_rename", { session_id: summary.id, name: name })
      .then(function () {
        done();
        self.sessionManagerStatus.textContent = "Renamed to “" + name + "”.";
        self.refreshSessions();
      }, function (/** @type {Error} */ error) {
        problem.textContent = error.message;
        save.disabled = false;
      });
  });
  setTimeout(function () { input.focus(); input.select(); }, 0);
  return form;
}

/**
 * @param {any} self the ChatView
 * @param {SessionSummary} summary
 * @param {string} title
 * @param {() => void} done
 */
function confirmForm(self, summary, title, done) {
  var form = el("form", "session-manager-form session-manager-confirm");
  form.setAttribute("aria-label", "Confirm deleting " + title);
  var question = el("span", "session-manager-question",
    "Delete “" + title + "”? Its trace is kept in the machine's archive.");
  var yes = el("button", "button button-small button-danger", "Delete session");
  yes.type = "submit";
  var cancel = cancelButton(done);
  var problem = el("span", "session-manager-problem");
  problem.setAttribute("role", "alert");
  form.append(question, yes, cancel, problem);
  onEscape(form, done);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    yes.disabled = true;
    self.workspace.api.post("agent_session_delete", { session_id: summary.id })
      .then(function (/** @type {any} */ answer) {
        form.remove();
        self.sessionManagerStatus.textContent = "Deleted “" + title + "”; its trace is archived" +
          (answer.archived_as ? " as " + answer.archived_as : "") + ".";
        self.sessionManagerDone.focus();
        self.sessionDeleted({ session_id: summary.id, data: answer });
      }, function (/** @type {Error} */ error) {
        problem.textContent = error.message;
        yes.disabled = false;
      });
  });
  // The safe choice has the focus: Enter on it does not delete.
  setTimeout(function () { cancel.focus(); }, 0);
  return form;
}

/** @param {() => void} done */
function cancelButton(done) {
  var cancel = el("button", "button button-small button-ghost", "Cancel");
  cancel.type = "button";
  cancel.addEventListener("click", done);
  return cancel;
}

/** @param {HTMLElement} form @param {() => void} done */
function onEscape(form, done) {
  form.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); done(); }
  });
}
