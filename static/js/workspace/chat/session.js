// @ts-check
// One agent session as the page knows it: the bridge's messages plus what is streaming.
//
// Gap-free and duplicate-free by construction:
// - `load()` takes the session's messages together with the event cursor read *before*
//   them (`baseline`): every event up to the baseline is already part of the messages.
// - Every event the socket delivers is kept in the recent-events ring (../events.js) first,
//   so a session loading while events arrive replays them from the ring afterwards.
// - Events after the baseline are applied; a `message_end` whose message is already there
//   (same role and timestamp, or same tool call for a tool result) is skipped, which
//   absorbs the short overlap between reading the cursor and reading the messages.

/**
 * What a session reads from the workspace: its history and the recent events.
 * @typedef {object} SessionSource
 * @property {(sessionId: string | null) => Promise<any>} history
 * @property {(sessionId: string) => any[]} recentEventsOf
 */

/**
 * The identity of a message, to tell whether the page already has it.
 * @param {any} message
 */
export function messageKey(message) {
  if (!message || typeof message !== "object") { return ""; }
  if (message.role === "toolResult") { return "toolResult:" + message.toolCallId; }
  return message.role + ":" + (message.timestamp == null ? "" : message.timestamp);
}

/**
 * The plain text of a message's content (a string, or text parts).
 * @param {unknown} content
 * @returns {string}
 */
export function textOf(content) {
  if (typeof content === "string") { return content; }
  if (!Array.isArray(content)) { return ""; }
  return content.filter(function (part) { return part && part.type === "text"; })
    .map(function (part) { return part.text || ""; }).join("");
}

/**
 * @constructor
 * @param {string} id
 * @param {SessionSource} source
 */
export function Session(id, source) {
  this.id = id;
  this.source = source;
  this.messages = [];
  this.keys = new Set();
  this.baseline = 0;
  this.loaded = false;
  this.loading = null;
  this.partial = null;
  this.busy = false;
  // pi retries a failed run by itself (agent_end.willRetry): still busy, shown as retrying.
  this.retrying = false;
  this.liveTools = {};
  this.queue = { steering: [], followUp: [] };
  this.views = [];
  // Who sent prompts whose message has not arrived yet: {text, author}, oldest first.
  /** @type {{text: string, author: string}[]} */
  this.pendingAuthors = [];
}

Session.prototype.attach = function (view) {
  if (this.views.indexOf(view) < 0) { this.views.push(view); }
  if (this.loaded) { view.renderAll(); }
};

Session.prototype.detach = function (view) {
  this.views = this.views.filter(function (other) { return other !== view; });
};

Session.prototype.notify = function (method) {
  var args = Array.prototype.slice.call(arguments, 1);
  this.views.forEach(function (view) {
    if (typeof view[method] === "function") { view[method].apply(view, args); }
  });
};

// (Re)build from the bridge: after the first load, a `reset` or a compaction.
Session.prototype.load = function () {
  var self = this;
  if (this.loading) { return this.loading; }
  this.loading = this.source.history(this.id).then(function (data) {
    self.applyHistory(data);
    return self;
  }).finally(function () { self.loading = null; });
  return this.loading;
};

Session.prototype.applyHistory = function (data) {
  var self = this;
  this.messages = Array.isArray(data.messages) ? data.messages.slice() : [];
  this.keys = new Set(this.messages.map(messageKey));
  this.baseline = Number(data.last_event_id) || 0;
  this.busy = Boolean(data.busy);
  this.retrying = Boolean(data.retrying);
  var queue = data.queue || {};
  this.queue = { steering: queue.steering || [], followUp: queue.followUp || [] };
  this.partial = null;
  this.liveTools = {};
  this.loaded = true;
  this.notify("renderAll");
  this.source.recentEventsOf(this.id).forEach(function (event) { self.apply(event); });
  this.notify("setBusy", this.busy);
  this.notify("setQueue", this.queue);
};

Session.prototype.receive = function (event) {
  if (this.loaded && !this.loading) { this.apply(event); }
  // While loading, the event waits in the ring and is applied afterwards.
};

Session.prototype.apply = function (event) {
  if (!event || Number(event.id) <= this.baseline) { return; }
  var data = event.data || {};
  switch (event.type) {
    case "agent_start":
      this.setBusy(true);
      break;
    case "agent_end":
      // pi may announce a message before its history includes it, so a history read in
      // that instant lacks a message whose message_end is already behind the cursor.
      // agent_end carries every message of the run: take any we are missing.
      this.adoptMissing(data.messages);
      if (data.willRetry) {
        // Not finished: pi tries again by itself (auto_retry_start follows), and drops the
        // failed attempt from the session's history: shown as a passing note, not an error.
        this.markRetried(data.messages);
        this.setRetrying(true);
      } else if (data.interrupted) {
        // Written by the bridge for a run that died with pi: no agent_settled follows.
        this.setRetrying(false);
        this.setBusy(false);
      }
      // Otherwise busy until agent_settled: queued messages may still run.
      break;
    case "agent_settled":
      this.setRetrying(false);
      this.setBusy(false);
      break;
    case "auto_retry_start":
      this.setRetrying(true);
      break;
    case "auto_retry_end":
      this.setRetrying(false);
      if (data.success === false) {
        this.notify("note", "The agent gave up after " + (data.attempt || "several") + " attempts: " +
          (data.finalError || "the model kept failing."), "error");
      }
      break;
    case "session_info_changed":
      this.name = typeof data.name === "string" ? data.name : null;
      this.notify("sessionRenamed", this.name);
      break;
    case "message_start":
      if (data.message && data.message.role === "assistant") {
        var key = messageKey(data.message);
        this.partial = { key: key, skip: this.keys.has(key), blocks: [] };
        if (!this.partial.skip) { this.notify("showPartial", this.partial); }
      }
      break;
    case "message_update":
      this.applyDelta(data.assistantMessageEvent || {});
      break;
    case "message_end":
      this.partial = null;
      this.notify("clearPartial");
      if (data.message && !this.keys.has(messageKey(data.message))) {
        var ended = this.withAuthor(this.withSentImages(fromSprite(data.message)));
        this.messages.push(ended);
        this.keys.add(messageKey(ended));
        this.notify("appendMessage", ended);
      }
      break;
    case "tool_start":
    case "tool_update":
    case "tool_end":
      this.applyTool(event.type, data);
      break;
    case "queue_update":
      this.queue = { steering: data.steering || [], followUp: data.followUp || [] };
      this.notify("setQueue", this.queue);
      break;
    case "compaction_start":
      this.notify("note", "Compacting the conversation…", "info");
      break;
    case "compaction_end":
      this.load();
      break;
    case "branch_changed":
      // An edit or a switch: the messages are another branch of the session's tree.
      this.load();
      break;
    case "error":
      this.notify("note", data.message || "The agent reported an error.", "error");
      break;
    case "secret_requested":
      this.notify("secretRequested", data.name, data.reason);
      break;
    default:
      break;
  }
};

/**
 * A message from a live event, which the Sprite wrote: only the control plane names who
 * sent a prompt (the history's `starter_author`, the socket's `author` frame), never the
 * Sprite.
 * @param {any} message
 */
function fromSprite(message) {
  if (!message || typeof message !== "object" || !("starter_author" in message)) { return message; }
  var copy = Object.assign({}, message);
  delete copy.starter_author;
  return copy;
}

/**
 * The control plane says who sent a prompt (the socket's `author` frame, live; the history
 * carries `starter_author` itself). Its message may be here already (the name is added to
 * it and its panels) or still to come (kept for `withAuthor`).
 * @param {string} text
 * @param {string} author
 */
Session.prototype.authored = function (text, author) {
  for (var index = this.messages.length - 1; index >= 0; index -= 1) {
    var message = this.messages[index];
    if (message.role === "user" && !message.starter_author && textOf(message.content) === text) {
      message.starter_author = author;
      this.notify("showAuthor", message);
      return;
    }
  }
  this.pendingAuthors.push({ text: text, author: author });
  if (this.pendingAuthors.length > 50) { this.pendingAuthors.shift(); }
};

/**
 * A live user message with the name of whoever sent it, when that arrived first.
 * @param {any} message
 */
Session.prototype.withAuthor = function (message) {
  if (!message || message.role !== "user" || message.starter_author) { return message; }
  var text = textOf(message.content);
  var index = this.pendingAuthors.findIndex(function (entry) { return entry.text === text; });
  if (index < 0) { return message; }
  var entry = this.pendingAuthors.splice(index, 1)[0];
  return Object.assign({}, message, { starter_author: entry.author });
};

Session.prototype.adoptMissing = function (messages) {
  if (!Array.isArray(messages)) { return; }
  var self = this;
  messages.forEach(function (message) {
    var key = messageKey(message);
    if (!message || self.keys.has(key)) { return; }
    message = self.withAuthor(self.withSentImages(fromSprite(message)));
    self.messages.push(message);
    self.keys.add(key);
    if (message.role === "assistant") { self.notify("clearPartial"); }
    self.notify("appendMessage", message);
  });
};

// The log carries no image bytes (the bridge drops them): a user message this page sent
// gets the images the page still holds, matched by its text (or, for a `/` command that
// pi expanded, by being the oldest message sent with as many images).
/** @param {string} text @param {{data: string, mimeType: string}[]} images */
Session.prototype.rememberImages = function (text, images) {
  this.sentImages = (this.sentImages || []).concat([{ text: text, images: images }]).slice(-8);
};

Session.prototype.withSentImages = function (message) {
  var parts = message.role === "user" && Array.isArray(message.content) ? message.content : [];
  var missing = parts.filter(function (part) { return part && part.type === "image" && !part.data; });
  if (!missing.length || !this.sentImages || !this.sentImages.length) { return message; }
  var text = textOf(parts);
  var sent = this.sentImages;
  var index = sent.findIndex(function (entry) { return entry.text === text; });
  if (index < 0) {
    index = sent.findIndex(function (entry) { return entry.images.length === missing.length; });
  }
  if (index < 0) { return message; }
  var images = sent[index].images.slice();
  this.sentImages = sent.slice(0, index).concat(sent.slice(index + 1));
  var content = parts.map(function (part) {
    if (!part || part.type !== "image" || part.data || !images.length) { return part; }
    var image = images.shift();
    return { type: "image", data: image.data, mimeType: image.mimeType };
  });
  return Object.assign({}, message, { content: content });
};

/** @param {any} messages the failed attempt's messages (agent_end with willRetry) */
Session.prototype.markRetried = function (messages) {
  if (!Array.isArray(messages)) { return; }
  var self = this;
  messages.forEach(function (failed) {
    if (!failed || failed.role !== "assistant" || failed.stopReason !== "error") { return; }
    var key = messageKey(failed);
    self.messages.forEach(function (message) {
      if (messageKey(message) === key) { message.retried = true; }
    });
    self.notify("messageRetried", key);
  });
};

Session.prototype.setBusy = function (busy) {
  this.busy = busy;
  this.notify("setBusy", busy);
};

Session.prototype.setRetrying = function (retrying) {
  if (this.retrying === retrying) { return; }
  this.retrying = retrying;
  if (retrying) { this.busy = true; }
  this.notify("setBusy", this.busy);
};

Session.prototype.applyDelta = function (delta) {
  if (this.partial && this.partial.skip) { return; }
  if (!this.partial) {
    // The message started before our cursor: show what arrives from here on.
    this.partial = { key: null, skip: false, blocks: [] };
    this.notify("showPartial", this.partial);
  }
  var blocks = this.partial.blocks;
  var index = typeof delta.contentIndex === "number" ? delta.contentIndex : blocks.length - 1;
  if (index < 0) { index = 0; }
  var type = delta.type || "";
  if (type === "text_start" || type === "thinking_start" || type === "toolcall_start") {
    blocks[index] = { type: type === "text_start" ? "text" : type === "thinking_start" ? "thinking" : "toolCall", text: "" };
  } else if (type === "text_delta" || type === "thinking_delta") {
    if (!blocks[index]) { blocks[index] = { type: type === "text_delta" ? "text" : "thinking", text: "" }; }
    blocks[index].text += delta.delta || "";
  } else if (type === "toolcall_end" && delta.toolCall) {
    blocks[index] = { type: "toolCall", call: delta.toolCall };
  } else {
    return;
  }
  this.notify("updatePartial", this.partial);
};

Session.prototype.applyTool = function (type, data) {
  var id = data.toolCallId;
  if (!id || this.keys.has("toolResult:" + id)) { return; }
  var state = this.liveTools[id] || { output: "", done: false, isError: false };
  if (type === "tool_start") { state.running = true; }
  if (type === "tool_update") { state.output = textOf((data.partialResult || {}).content); }
  if (type === "tool_end") {
    state.running = false;
    state.done = true;
    state.isError = Boolean(data.isError);
    state.output = typeof data.text === "string" ? data.text : textOf((data.result || {}).content);
    state.details = (data.result || {}).details || null;
  }
  this.liveTools[id] = state;
  this.notify("updateTool", id, state);
};

Session.prototype.toolResultFor = function (toolCallId) {
  for (var i = this.messages.length - 1; i >= 0; i -= 1) {
    var message = this.messages[i];
    if (message.role === "toolResult" && message.toolCallId === toolCallId) { return message; }
  }
  return null;
};

/**
 * The sessions this page has open, by id: each is loaded once and shared by the panels
 * that show it.
 * @param {SessionSource} source
 */
export function createSessions(source) {
  /** @type {Record<string, any>} */
  var byId = {};

  /**
   * The session `sessionId`, loaded; with no id, the bridge's current session (started
   * if there is none).
   * @param {string | null} sessionId
   * @returns {Promise<any>}
   */
  function sessionFor(sessionId) {
    if (sessionId && byId[sessionId]) {
      var known = byId[sessionId];
      return known.loaded ? Promise.resolve(known) : known.load();
    }
    if (sessionId) {
      var id = sessionId;
      var session = new Session(id, source);
      byId[id] = session;
      return session.load().catch(function (/** @type {Error} */ error) {
        delete byId[id];
        throw error;
      });
    }
    return source.history(null).then(function (data) {
      var current = data.session_id;
      var existing = byId[current];
      if (existing) { return existing.loaded ? existing : existing.load(); }
      var fresh = new Session(current, source);
      byId[current] = fresh;
      fresh.applyHistory(data);
      return fresh;
    });
  }

  return {
    byId: byId,
    sessionFor: sessionFor,
    /** @param {any} event deliver a live event to its session, if this page has it open */
    receive: function (event) {
      var session = event.session_id ? byId[event.session_id] : null;
      if (session) { session.receive(event); }
    },
    /** @param {{session_id?: unknown, text?: unknown, author?: unknown}} frame who sent a prompt */
    authored: function (frame) {
      var session = typeof frame.session_id === "string" ? byId[frame.session_id] : null;
      if (session && typeof frame.text === "string" && typeof frame.author === "string" && frame.author) {
        session.authored(frame.text, frame.author);
      }
    },
    /** Reload every open session from the bridge (after a `reset`). */
    reloadAll: function () {
      Object.keys(byId).forEach(function (id) { byId[id].load(); });
    },
  };
}
