// @ts-check
// The composer's `/` suggestions: the prompt templates, skills and extension commands pi
// offers in the session (the control plane's `agent_commands`). Typing `/` at the start of
// the message opens a list above the message box; Up/Down move, Enter or Tab insert
// `/name `, Escape closes, a click picks. pi expands the command when the message is sent.
//
// The list is kept per session and asked for again each time it opens (the agent may have
// written a template meanwhile). Names and descriptions come from files in the Sprite:
// they are set as text only, and the server already limited their size and number.
//
// Accessibility: the message box stays a plain textbox (`aria-autocomplete="list"`,
// `aria-controls`, `aria-activedescendant` on the active option) over a `listbox`; a polite
// status says how many commands match.

import { el } from "../../lib/dom.js";

var MAX_SHOWN = 50;
var SOURCE_LABELS = { prompt: "template", skill: "skill", extension: "extension" };

/**
 * The command being typed: the message's first word while the caret is in it.
 * @param {HTMLTextAreaElement} input
 * @returns {string | null} what follows the `/`, or null when no command is being typed
 */
export function typedCommand(input) {
  var value = input.value;
  if (value.charAt(0) !== "/") { return null; }
  var end = value.search(/\s/);
  if (end < 0) { end = value.length; }
  if (input.selectionStart == null || input.selectionStart > end) { return null; }
  return value.slice(1, end);
}

/**
 * The commands whose name starts with `query` first, then those that contain it.
 * @param {any[]} commands
 * @param {string} query
 */
export function matchingCommands(commands, query) {
  var wanted = query.toLowerCase();
  var starts = [];
  var contains = [];
  commands.forEach(function (command) {
    var name = String(command.name || "").toLowerCase();
    if (name.indexOf(wanted) === 0) { starts.push(command); }
    else if (wanted && name.indexOf(wanted) > 0) { contains.push(command); }
  });
  return starts.concat(contains).slice(0, MAX_SHOWN);
}

/**
 * Add the suggestion list to a chat view's composer (after buildComposer made it).
 * @param {any} self the ChatView
 */
export function attachSlashMenu(self) {
  /** @type {HTMLTextAreaElement} */
  var input = self.input;
  var list = el("ul", "slash-menu");
  list.id = self.uid + "-commands";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Commands: prompt templates and skills");
  list.hidden = true;
  var status = el("span", "sr-only");
  status.setAttribute("role", "status");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  self.composer.prepend(list);
  self.composer.appendChild(status);

  /** @type {any[]} */
  var shown = [];
  var active = -1;
  var open = false;
  var fetching = 0;

  function sessionCommands() {
    return self.session && Array.isArray(self.session.commands) ? self.session.commands : null;
  }

  function refresh() {
    if (!self.session) { return; }
    var session = self.session;
    var ticket = ++fetching;
    self.workspace.api.get("agent_commands", { session_id: session.id }).then(function (data) {
      session.commands = Array.isArray(data.commands) ? data.commands : [];
      session.commandsError = null;
    }, function (/** @type {Error} */ error) {
      session.commandsError = error.message;
    }).then(function () {
      if (ticket === fetching && open && self.session === session) { update(); }
    });
  }

  function close() {
    open = false;
    active = -1;
    shown = [];
    list.hidden = true;
    list.textContent = "";
    input.removeAttribute("aria-activedescendant");
    status.textContent = "";
  }

  function update() {
    var query = typedCommand(input);
    if (query === null) { close(); return; }
    if (!open) {
      open = true;
      refresh();
    }
    var commands = sessionCommands();
    shown = commands ? matchingCommands(commands, query) : [];
    active = shown.length ? Math.min(Math.max(active, 0), shown.length - 1) : -1;
    render(commands);
  }

  /** @param {any[] | null} commands */
  function render(commands) {
    list.textContent = "";
    list.hidden = false;
    if (!shown.length) {
      var error = self.session && self.session.commandsError;
      var text = commands === null ? (error || "Loading commands…")
        : commands.length ? "No command matches." : "No prompt templates or skills yet: ask the agent to write one.";
      var empty = el("li", "slash-empty", text);
      empty.setAttribute("aria-disabled", "true");
      list.appendChild(empty);
      input.removeAttribute("aria-activedescendant");
      status.textContent = text;
      return;
    }
    shown.forEach(function (command, index) {
      var option = el("li", "slash-option");
      option.id = list.id + "-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", index === active ? "true" : "false");
      option.append(
        el("span", "slash-name", "/" + command.name),
        el("span", "slash-source", SOURCE_LABELS[/** @type {"prompt"} */ (command.source)] || ""),
        el("span", "slash-description", command.description || ""),
      );
      // Keep the focus in the message box; the click picks.
      option.addEventListener("mousedown", function (event) { event.preventDefault(); });
      option.addEventListener("click", function () { pick(index); });
      list.appendChild(option);
    });
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", list.id + "-" + active);
      var current = /** @type {HTMLElement} */ (list.children[active]);
      if (current && current.scrollIntoView) { current.scrollIntoView({ block: "nearest" }); }
    }
    status.textContent = shown.length + (shown.length === 1 ? " command" : " commands") +
      ". Up and down to choose, Enter to insert, Escape to close.";
  }

  /** @param {number} index */
  function pick(index) {
    var command = shown[index];
    if (!command) { return; }
    var value = input.value;
    var end = value.search(/\s/);
    var rest = end < 0 ? "" : value.slice(end).replace(/^\s+/, "");
    input.value = "/" + command.name + " " + rest;
    var caret = command.name.length + 2;
    input.setSelectionRange(caret, caret);
    close();
    input.focus();
  }

  input.addEventListener("input", update);
  input.addEventListener("click", function () { if (open || typedCommand(input) !== null) { update(); } });
  input.addEventListener("blur", function () { setTimeout(function () { if (document.activeElement !== input) { close(); } }, 150); });
  // Capture on the form: runs before the message box's own Enter (send) handler.
  self.composer.addEventListener("keydown", function (/** @type {KeyboardEvent} */ event) {
    if (!open || event.target !== input || event.isComposing) { return; }
    var handled = true;
    if (event.key === "ArrowDown" && shown.length) {
      active = (active + 1) % shown.length;
      render(sessionCommands());
    } else if (event.key === "ArrowUp" && shown.length) {
      active = (active - 1 + shown.length) % shown.length;
      render(sessionCommands());
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && active >= 0) {
      pick(active);
    } else if (event.key === "Escape") {
      close();
    } else {
      handled = false;
    }
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  return { close: close, refresh: refresh };
}
