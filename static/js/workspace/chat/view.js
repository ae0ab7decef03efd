// @ts-check
// A chat panel: the transcript of one session, its composer and its session controls.

import { el } from "../../lib/dom.js";
import * as render from "../../lib/render.js";
import { toast } from "../../lib/toast.js";
import { addDuplicateButton, addEditButton } from "./branches.js";
import { buildComposer, buildToolbar, openNameForm, sendFromComposer, sendText, sessionLabel } from "./composer.js";
import { messageImages } from "./attachments.js";
import { messageKey, textOf } from "./session.js";
import { secretForm, tellAgentOnceBack } from "./secret-form.js";
import { buildSessionManager, refreshArchived, renderSessionManager } from "./session-manager.js";
import { fillCard, findCard, shortJson, toolCard } from "./tool-cards.js";
import { gatewayCardFor } from "./gateway-cards.js";
import { addCodeCopyButtons, messageFooter } from "./copy.js";
import { ChatSearch } from "./search.js";
import { conversationMarkdown, download, exportFileName } from "./export.js";

/**
 * What a chat panel needs from the workspace (workspace/main.js builds it).
 * @typedef {object} ChatContext
 * @property {{generalAgent?: boolean, secretNames: string[], urls: Record<string, string>, images?: {types: string[], maxCount: number, maxBytes: number, maxTotalBytes: number}}} config
 * @property {{get: Function, post: Function, sessions: () => Promise<any>}} api
 * @property {(sessionId: string | null) => Promise<any>} sessionFor
 * @property {(kind: string, props: object) => unknown} openPanel
 * @property {(view: any, sessionId: string) => void} panelSessionChanged
 * @property {{cursor: number | null, ring: any[]}} events
 * @property {{control: () => HTMLButtonElement}} [notifier] the "Notify me" toggle (chat/notify.js)
 */

var counter = 0;

/**
 * @constructor
 * @param {HTMLElement} panelBody
 * @param {ChatContext} workspace
 * @param {string | null} sessionId null: the bridge's current session
 */
export function ChatView(panelBody, workspace, sessionId) {
  counter += 1;
  this.uid = "chat-" + counter;
  this.workspace = workspace;
  this.session = null;
  this.root = el("section", "chat");
  this.root.setAttribute("aria-label", "Chat with the agent");
  // Built by composer.js: the toolbar and its session picker and status, the composer and
  // its buttons.
  /** @type {any} */ this.toolbar = null;
  /** @type {any} */ this.sessionSelect = null;
  /** @type {any} */ this.status = null;
  /** @type {any} */ this.nameForm = null;
  /** @type {any} the list to rename and delete sessions (session-manager.js) */
  this.sessionManager = null;
  /** @type {any} */ this.nameInput = null;
  /** @type {any} */ this.nameSubmit = null;
  /** @type {((name: string) => Promise<any>) | null} what the name form does with a name */
  this.onSessionName = null;
  /** @type {any} */ this.composer = null;
  /** @type {any} */ this.input = null;
  /** @type {any} */ this.sendButton = null;
  /** @type {any} */ this.followButton = null;
  /** @type {any} */ this.stopButton = null;
  /** @type {any} */ this.working = null;
  /** @type {any} the conversation's search bar (search.js) */ this.searcher = null;
  buildToolbar(this);
  // Rename and delete any session (session-manager.js), beside the picker.
  this.toolbar.insertBefore(buildSessionManager(this), this.status);
  addDuplicateButton(this);
  addComfortButtons(this);
  this.log = el("div", "chat-log");
  this.log.setAttribute("role", "log");
  this.log.setAttribute("aria-label", "Conversation");
  this.log.tabIndex = 0;
  // Messages and tool output come from the agent: htmx never processes them.
  this.log.setAttribute("hx-disable", "");
  this.list = el("div", "chat-messages");
  this.partialNode = el("div", "chat-partial");
  this.notes = el("div", "chat-notes");
  this.empty = el("div", "chat-empty");
  var general = Boolean(workspace.config && workspace.config.generalAgent);
  this.empty.innerHTML = general
    ? "<strong>Ask about any of your projects.</strong>" +
      "<span>The general agent can list, search, read, change and create your projects: " +
      "“What's the status of all my projects?”</span>"
    : "<strong>Ask the agent to build something.</strong>" +
      "<span>It works in this project's own machine: it can install packages, write files and run servers.</span>";
  this.log.append(this.empty, this.list, this.partialNode, this.notes);
  this.queueNode = el("div", "chat-queue");
  // "Copied" and the like, for screen readers.
  this.announcer = el("div", "sr-only");
  this.announcer.setAttribute("role", "status");
  this.announcer.setAttribute("aria-live", "polite");
  buildComposer(this);
  this.root.append(this.toolbar, this.nameForm, this.sessionManager, this.searcher.bar, this.log,
    this.queueNode, this.composer, this.announcer);
  panelBody.appendChild(this.root);
  this.bindTo(sessionId || null);
}

/**
 * Search, export and "Notify me", after the session buttons.
 * @param {any} self the ChatView
 */
function addComfortButtons(self) {
  self.searcher = new ChatSearch(self);
  var searchButton = el("button", "button button-small button-ghost", "Search");
  searchButton.type = "button";
  searchButton.title = "Search this conversation (Ctrl+F in the chat)";
  searchButton.addEventListener("click", function () { self.searcher.open(); });
  var exportButton = el("button", "button button-small button-ghost", "Export");
  exportButton.type = "button";
  exportButton.title = "Download this conversation as Markdown";
  exportButton.addEventListener("click", function () { self.exportConversation(); });
  self.toolbar.append(searchButton, exportButton);
  if (self.workspace.notifier) { self.toolbar.appendChild(self.workspace.notifier.control()); }
}

// -- binding to a session ---------------------------------------------------------------

ChatView.prototype.bindTo = function (sessionId) {
  var self = this;
  if (this.session) { this.session.detach(this); }
  this.session = null;
  this.list.textContent = "";
  this.setStatus("Loading…");
  this.binding = this.workspace.sessionFor(sessionId).then(function (session) {
    self.session = session;
    session.attach(self);
    self.workspace.panelSessionChanged(self, session.id);
    self.setStatus("");
    self.refreshSessions();
    return session;
  }, function (error) {
    self.setStatus("");
    self.note(error.message, "error");
    return null;
  });
  return this.binding;
};

ChatView.prototype.destroy = function () {
  if (this.session) { this.session.detach(this); }
};

ChatView.prototype.refreshSessions = function () {
  var self = this;
  this.workspace.api.sessions().then(function (data) {
    var current = self.session ? self.session.id : null;
    var sessions = (data.sessions || []).slice().reverse();
    if (current && !sessions.some(function (s) { return s.id === current; })) {
      sessions.unshift({ id: current });
    }
    self.sessionSelect.textContent = "";
    sessions.forEach(function (summary) {
      var option = el("option", null, sessionLabel(summary));
      option.value = summary.id;
      option.dataset.name = typeof summary.name === "string" ? summary.name : "";
      option.selected = summary.id === current;
      self.sessionSelect.appendChild(option);
    });
    renderSessionManager(self, data.sessions || []);
    refreshArchived(self);
  }, function () { /* the list is a convenience; the panel works without it */ });
};

/**
 * A session was deleted (here, or on another page: the `session_deleted` event). A panel
 * that showed it moves to the session the bridge made current; the others refresh.
 * @param {{session_id: string, data?: {current?: string | null}}} event
 */
ChatView.prototype.sessionDeleted = function (event) {
  var self = this;
  if (!this.session || this.session.id !== event.session_id) { this.refreshSessions(); return; }
  var next = (event.data && event.data.current) || null;
  this.bindTo(next).then(function () {
    self.note("That session was deleted; its trace is kept in the machine's archive.", "info");
  });
};

ChatView.prototype.switchTo = function (sessionId) {
  var self = this;
  this.workspace.api.post("agent_session_switch", { session_id: sessionId }).then(function () {
    self.bindTo(sessionId);
  }, function (error) { self.note(error.message, "error"); });
};

/** @param {string} [name] the new session's display name; none leaves it unnamed */
ChatView.prototype.newSession = function (name) {
  var self = this;
  this.setStatus("Starting a new session…");
  this.workspace.api.post("agent_session_new", name ? { name: name } : {}).then(function (data) {
    self.bindTo(data.session_id);
  }, function (error) { self.setStatus(""); self.note(error.message, "error"); });
};

/** Ask for a name, then start a new session with it (an empty name starts it unnamed). */
ChatView.prototype.askNewSessionName = function () {
  var self = this;
  openNameForm(this, "Start", "", function (name) {
    self.newSession(name || undefined);
    return Promise.resolve(null);
  });
};

/** @param {string} name @returns {Promise<any>} */
ChatView.prototype.renameSession = function (name) {
  var self = this;
  if (!this.session) { return Promise.resolve(null); }
  return this.workspace.api.post("agent_session_rename", { session_id: this.session.id, name: name })
    .then(function (data) {
      self.refreshSessions();
      return data;
    }, function (error) { self.note(error.message, "error"); return null; });
};

/** The session's name changed (here or elsewhere): the picker shows it. */
ChatView.prototype.sessionRenamed = function () { this.refreshSessions(); };

/** The name the session picker shows for this panel's session ("" when unnamed). */
ChatView.prototype.currentName = function () {
  var option = this.sessionSelect.selectedOptions[0];
  return option && option.dataset.name ? option.dataset.name : "";
};

ChatView.prototype.compact = function (button) {
  var self = this;
  if (!this.session) { return; }
  button.disabled = true;
  this.workspace.api.post("agent_compact", { session_id: this.session.id }).then(function () {
    self.note("Conversation compacted.", "info");
  }, function (error) { self.note(error.message, "error"); }).finally(function () {
    button.disabled = false;
  });
};

// -- sending ----------------------------------------------------------------------------

ChatView.prototype.isBusy = function () { return Boolean(this.session && this.session.busy); };

ChatView.prototype.send = function (/** @type {string} */ mode) { sendFromComposer(this, mode); };

/** @param {string} text @param {string} mode @returns {Promise<any>} */
ChatView.prototype.sendText = function (text, mode) { return sendText(this, text, mode); };

ChatView.prototype.abort = function () {
  var self = this;
  if (!this.session) { return; }
  this.workspace.api.post("agent_abort", { session_id: this.session.id }).catch(function (error) {
    self.note(error.message, "error");
  });
};

// -- rendering (called by the session) ---------------------------------------------------

ChatView.prototype.renderAll = function () {
  var self = this;
  this.list.textContent = "";
  this.partialNode.textContent = "";
  this.notes.textContent = "";
  this.session.messages.forEach(function (message) { self.appendMessage(message, true); });
  this.empty.hidden = this.session.messages.length > 0;
  this.setBusy(this.session.busy);
  this.setQueue(this.session.queue);
  this.scrollToEnd(true);
  this.searcher.refresh();
};

ChatView.prototype.appendMessage = function (message, bulk) {
  this.empty.hidden = true;
  var node = this.renderMessage(message);
  if (node) { this.list.appendChild(node); }
  if (!bulk) { this.scrollToEnd(); this.searcher.refresh(); }
};

/** @param {string} text said to screen readers (copied, …) */
ChatView.prototype.announce = function (text) {
  var announcer = this.announcer;
  // Emptied first, so the same words said twice are announced twice.
  announcer.textContent = "";
  setTimeout(function () { announcer.textContent = text; }, 30);
};

/** Download the session's messages as `<session name>.md`. */
ChatView.prototype.exportConversation = function () {
  if (!this.session) { return; }
  var name = this.currentName() || this.session.name || "";
  var fallback = "session-" + String(this.session.id).slice(-6);
  download(exportFileName(name || fallback), conversationMarkdown({
    name: name, id: this.session.id, messages: this.session.messages,
  }));
  this.announce("The conversation was downloaded as Markdown.");
};

/**
 * @param {HTMLElement} node the message's article
 * @param {string} author an e-mail address, as text
 */
function authorLine(node, author) {
  node.dataset.author = author;
  return el("div", "msg-author", author);
}

/**
 * The name of who sent a message already shown arrived (session.js `authored`).
 * @param {any} message
 */
ChatView.prototype.showAuthor = function (message) {
  var key = messageKey(message);
  var nodes = this.list.querySelectorAll("article.msg-user");
  for (var index = nodes.length - 1; index >= 0; index -= 1) {
    var node = /** @type {HTMLElement} */ (nodes[index]);
    if (node.dataset.messageKey === key && !node.dataset.author) {
      node.insertBefore(authorLine(node, message.starter_author), node.firstChild);
      return;
    }
  }
};

ChatView.prototype.renderMessage = function (message) {
  // pi's system prompt record (pi >= 0.86) is not part of the conversation; the bridge
  // drops it, and an older log replayed here must not show it either.
  if (message.role === "system") { return null; }
  var key = messageKey(message);
  if (message.role === "toolResult") {
    var card = this.findCard(message.toolCallId);
    if (card) {
      this.fillCard(card, textOf(message.content), Boolean(message.isError), true, false,
        message.details);
      card.dataset.resultKey = key;
      return null;
    }
    var orphan = this.toolCard({ id: message.toolCallId, name: message.toolName, arguments: {} });
    this.fillCard(orphan, textOf(message.content), Boolean(message.isError), true, false,
      message.details);
    orphan.dataset.resultKey = key;
    return orphan;
  }
  var node = el("article", "msg msg-" + (message.role || "other"));
  node.dataset.messageKey = key;
  node.dataset.role = message.role || "";
  if (message.role === "user") {
    // Who sent it, as the control plane recorded it (projects/prompt_authors.py): shared
    // projects have several people prompting the same agent.
    if (typeof message.starter_author === "string" && message.starter_author) {
      node.appendChild(authorLine(node, message.starter_author));
    }
    node.appendChild(el("div", "msg-text", textOf(message.content)));
    var images = messageImages(message, this.workspace.config.images);
    if (images) { node.appendChild(images); }
    addEditButton(this, node, message);
    node.appendChild(messageFooter(message, this.announce.bind(this)));
    return node;
  }
  if (message.role === "assistant") {
    this.renderBlocks(node, (message.content || []).map(function (part) {
      if (part.type === "toolCall") { return { type: "toolCall", call: part }; }
      return part;
    }), true);
    if (message.stopReason === "aborted") { node.appendChild(el("div", "msg-stop", "Stopped.")); }
    if (message.stopReason === "error") {
      // The model gateway's refusal (budget, loop guard) is a card; anything else is text.
      node.appendChild(gatewayCardFor(this, message) ||
        el("div", "msg-error", message.errorMessage || "The model returned an error."));
      if (message.retried) { this.showRetried(node); }
    }
    addCodeCopyButtons(node, this.announce.bind(this));
    node.appendChild(messageFooter(message, this.announce.bind(this)));
    return node;
  }
  var summary = message.summary || textOf(message.content) || message.command || "";
  var details = el("details", "msg-note");
  details.appendChild(el("summary", null, message.role === "compactionSummary"
    ? "Earlier messages were summarised" : (message.role || "note")));
  var body = el("div", "markdown");
  render.markdown(body, typeof summary === "string" ? summary : shortJson(summary));
  details.appendChild(body);
  node.appendChild(details);
  return node;
};

ChatView.prototype.renderBlocks = function (node, blocks, final) {
  var self = this;
  blocks.forEach(function (block) {
    if (!block) { return; }
    if (block.type === "text") {
      var text = el("div", "msg-text markdown");
      render.markdown(text, block.text || "");
      node.appendChild(text);
    } else if (block.type === "thinking") {
      var thinking = el("details", "msg-thinking");
      thinking.appendChild(el("summary", null, "Thinking"));
      var body = el("div", "markdown");
      render.markdown(body, block.thinking || block.text || "");
      thinking.appendChild(body);
      node.appendChild(thinking);
    } else if (block.type === "toolCall" && block.call) {
      var existing = final ? null : self.findCard(block.call.id, node);
      node.appendChild(existing || self.toolCard(block.call));
    } else if (block.type === "toolCall") {
      node.appendChild(el("div", "tool-card tool-card-pending", "Preparing a tool call…"));
    }
  });
};

ChatView.prototype.toolCard = function (/** @type {any} */ call) {
  var self = this;
  var extra = call.name === "request_secret" ? secretForm(call.arguments || {}, {
    savedNames: this.workspace.config.secretNames,
    save: function (name, value) { return self.workspace.api.post("secret_provide", { name: name, value: value }); },
    saved: function (name) {
      if (self.session) { tellAgentOnceBack(self.workspace.events, self, name); }
    },
    failed: function (message) { toast(message, "error"); },
  }) : null;
  var live = this.session && this.session.liveTools[call.id];
  return toolCard(call, { live: live, extra: extra, projectUrl: this.workspace.config.urls.project });
};

/** @param {string} toolCallId @param {ParentNode} [within] */
ChatView.prototype.findCard = function (toolCallId, within) {
  return findCard(within || this.root, toolCallId);
};

ChatView.prototype.fillCard = function (card, output, isError, done, running, details) {
  fillCard(card, { output: output, isError: isError, done: done, running: running, details: details },
    this.workspace.config.urls.project);
};

ChatView.prototype.updateTool = function (toolCallId, live) {
  var card = this.findCard(toolCallId);
  if (card) { fillCard(card, live, this.workspace.config.urls.project); }
  // The card's output is new text: ranges into the old text would point at nothing.
  this.searcher.refreshLater();
};

ChatView.prototype.showPartial = function (partial) { this.updatePartial(partial); };

ChatView.prototype.updatePartial = function (partial) {
  var self = this;
  this.pendingPartial = partial;
  if (this.partialFrame) { return; }
  this.partialFrame = window.requestAnimationFrame(function () {
    self.partialFrame = null;
    if (!self.pendingPartial) { return; }
    self.empty.hidden = true;
    var node = el("article", "msg msg-assistant msg-streaming");
    node.setAttribute("aria-busy", "true");
    self.renderBlocks(node, self.pendingPartial.blocks, false);
    self.partialNode.textContent = "";
    self.partialNode.appendChild(node);
    self.scrollToEnd();
  });
};

ChatView.prototype.clearPartial = function () {
  this.pendingPartial = null;
  this.partialNode.textContent = "";
};

ChatView.prototype.setBusy = function (busy) {
  var retrying = Boolean(busy && this.session && this.session.retrying);
  this.root.classList.toggle("is-busy", Boolean(busy));
  this.root.classList.toggle("is-retrying", retrying);
  // A failed attempt that pi tries again is not a finished run.
  this.working.textContent = retrying ? "Retrying…" : "Working…";
  this.sendButton.textContent = busy ? "Steer" : "Send";
  this.sendButton.title = busy ? "Redirect the agent now (Enter)" : "Send (Enter)";
  this.followButton.hidden = !busy;
  this.stopButton.hidden = !busy;
  this.working.hidden = !busy;
};

/** @param {string} key the message pi is trying again (its failed attempt) */
ChatView.prototype.messageRetried = function (key) {
  var self = this;
  this.list.querySelectorAll(".msg-assistant").forEach(function (node) {
    if (/** @type {HTMLElement} */ (node).dataset.messageKey === key) { self.showRetried(node); }
  });
};

/** @param {Element} node an assistant message whose attempt failed and is being retried */
ChatView.prototype.showRetried = function (node) {
  var error = node.querySelector(".msg-error");
  if (!error || node.classList.contains("msg-retried")) { return; }
  node.classList.add("msg-retried");
  error.className = "msg-retry-note";
  error.textContent = "This attempt failed (" + (error.textContent || "an error") + "); the agent tries again.";
};

ChatView.prototype.setQueue = function (queue) {
  this.queueNode.textContent = "";
  var items = [];
  (queue.steering || []).forEach(function (text) { items.push(["Steer", text]); });
  (queue.followUp || []).forEach(function (text) { items.push(["Follow-up", text]); });
  var self = this;
  items.forEach(function (item) {
    var chip = el("div", "queue-chip");
    // The texts are the person's own, but came back through the Sprite: text nodes only.
    chip.append(el("strong", null, item[0] + ":"), document.createTextNode(" " + textOf(item[1])));
    self.queueNode.appendChild(chip);
  });
  if (items.length) {
    var takeBack = el("button", "button button-small button-ghost queue-take-back", "Take back");
    takeBack.type = "button";
    takeBack.title = "Remove the waiting messages and put them back in the message box";
    takeBack.addEventListener("click", function () { self.takeBackQueue(takeBack); });
    this.queueNode.appendChild(takeBack);
  }
};

/**
 * Take the waiting messages back (pi's clear_queue): they are not sent, and their text
 * returns to the message box, after anything already typed there.
 * @param {HTMLButtonElement} button
 */
ChatView.prototype.takeBackQueue = function (button) {
  var self = this;
  if (!this.session) { return; }
  button.disabled = true;
  this.workspace.api.post("agent_queue_clear", { session_id: this.session.id }).then(function (data) {
    var texts = (data.steering || []).concat(data.follow_up || []);
    if (!texts.length) {
      self.note("The waiting messages were already sent.", "info");
      return;
    }
    var typed = self.input.value.trim();
    self.input.value = (typed ? [typed] : []).concat(texts).join("\n\n");
    self.input.focus();
    if (self.session) { self.session.queue = { steering: [], followUp: [] }; }
    self.setQueue({ steering: [], followUp: [] });
  }, function (error) {
    button.disabled = false;
    self.note(error.message, "error");
  });
};

ChatView.prototype.note = function (text, kind) {
  var node = el("div", "chat-note chat-note-" + (kind || "info"), text);
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  this.notes.appendChild(node);
  while (this.notes.children.length > 4) { this.notes.firstChild.remove(); }
  this.scrollToEnd();
};

ChatView.prototype.secretRequested = function (name) {
  var self = this;
  toast("The agent asks for the secret " + name + ".", "warning");
  // The tool card carrying the form is rendered with the assistant message; focus it.
  setTimeout(function () {
    var field = /** @type {HTMLElement | null} */ (self.root.querySelector(".secret-form[data-secret-name='" + name + "'] input[type=password]"));
    if (field) { field.focus(); field.scrollIntoView({ block: "center" }); }
  }, 50);
};

ChatView.prototype.setStatus = function (text) { this.status.textContent = text; };

ChatView.prototype.scrollToEnd = function (force) {
  var log = this.log;
  var nearEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 160;
  if (force || nearEnd) { log.scrollTop = log.scrollHeight; }
};
