// A chat panel: the transcript of one session, its composer and its session controls.
(function () {
  "use strict";

  var R = window.starterRender;
  var M = window.starterMessages;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = text; }
    return node;
  }

  function shortJson(value) {
    try { return JSON.stringify(value, null, 2); } catch (error) { return String(value); }
  }

  function toolSummary(call) {
    var args = call.arguments || {};
    if (typeof args.command === "string") { return args.command; }
    if (typeof args.path === "string") { return args.path; }
    if (typeof args.message === "string") { return args.message; }
    if (typeof args.name === "string") { return args.name; }
    var text = JSON.stringify(args);
    return text === "{}" ? "" : text;
  }

  var counter = 0;

  function ChatView(panelBody, workspace, sessionId) {
    counter += 1;
    this.uid = "chat-" + counter;
    this.workspace = workspace;
    this.session = null;
    this.root = el("section", "chat");
    this.root.setAttribute("aria-label", "Chat with the agent");
    this.buildToolbar();
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
    this.buildComposer();
    this.root.append(this.toolbar, this.log, this.queueNode, this.composer);
    panelBody.appendChild(this.root);
    this.bindTo(sessionId || null);
  }

  ChatView.prototype.buildToolbar = function () {
    var self = this;
    this.toolbar = el("div", "chat-toolbar");
    var label = el("label", "sr-only", "Session");
    label.htmlFor = this.uid + "-session";
    this.sessionSelect = el("select", "session-select");
    this.sessionSelect.id = this.uid + "-session";
    this.sessionSelect.addEventListener("focus", function () { self.refreshSessions(); });
    this.sessionSelect.addEventListener("change", function () {
      var value = self.sessionSelect.value;
      if (value && (!self.session || value !== self.session.id)) { self.switchTo(value); }
    });
    var newButton = el("button", "button button-small button-ghost", "New session");
    newButton.type = "button";
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
    this.status = el("span", "chat-status");
    this.status.setAttribute("aria-live", "polite");
    this.toolbar.append(label, this.sessionSelect, this.status, el("span", "spacer"),
      newButton, compactButton, traceButton);
  };

  ChatView.prototype.buildComposer = function () {
    var self = this;
    this.composer = el("form", "composer");
    var label = el("label", "sr-only", "Message to the agent");
    label.htmlFor = this.uid + "-input";
    this.input = el("textarea", "composer-input");
    this.input.id = this.uid + "-input";
    this.input.rows = 2;
    this.input.placeholder = "Ask the agent…  (Enter sends · Shift+Enter new line)";
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.send(event.altKey ? "follow_up" : (self.isBusy() ? "steer" : "prompt"));
      }
    });
    this.sendButton = el("button", "button button-primary button-small", "Send");
    this.sendButton.type = "submit";
    this.followButton = el("button", "button button-small", "Follow up");
    this.followButton.type = "button";
    this.followButton.title = "Queue it for when the current run ends (Alt+Enter)";
    this.followButton.addEventListener("click", function () { self.send("follow_up"); });
    this.stopButton = el("button", "button button-small button-danger-ghost", "Stop");
    this.stopButton.type = "button";
    this.stopButton.addEventListener("click", function () { self.abort(); });
    var actions = el("div", "composer-actions");
    this.working = el("span", "composer-working", "Working…");
    actions.append(this.working, this.stopButton, this.followButton, this.sendButton);
    this.composer.append(label, this.input, actions);
    this.composer.addEventListener("submit", function (event) {
      event.preventDefault();
      self.send(self.isBusy() ? "steer" : "prompt");
    });
    this.setBusy(false);
  };

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
        var option = el("option", null, self.workspace.sessionLabel(summary));
        option.value = summary.id;
        option.selected = summary.id === current;
        self.sessionSelect.appendChild(option);
      });
    }, function () { /* the list is a convenience; the panel works without it */ });
  };

  ChatView.prototype.switchTo = function (sessionId) {
    var self = this;
    this.workspace.api.post("agent_session_switch", { session_id: sessionId }).then(function () {
      self.bindTo(sessionId);
    }, function (error) { self.note(error.message, "error"); });
  };

  ChatView.prototype.newSession = function () {
    var self = this;
    this.setStatus("Starting a new session…");
    this.workspace.api.post("agent_session_new", {}).then(function (data) {
      self.bindTo(data.session_id);
    }, function (error) { self.setStatus(""); self.note(error.message, "error"); });
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

  ChatView.prototype.send = function (mode) {
    var self = this;
    var text = this.input.value;
    if (!text.trim()) { return; }
    if (!this.session) {
      // Still finding its session (the page just opened): send once it is there.
      // If finding it failed (the machine was restarting), look for the current one again.
      var binding = this.binding || Promise.resolve(null);
      binding.then(function (session) { return session || self.bindTo(null); }).then(function (session) {
        if (session) { self.send(mode); }
      });
      return;
    }
    this.input.value = "";
    this.sendRecovering(text, mode, 0).catch(function (error) {
      if (!self.input.value) { self.input.value = text; }
      self.note(error.message, "error");
    });
  };

  // Right after the machine restarts (re-bootstrap, new secret) its sessions come back one
  // by one: a session that never got a file is gone, and a pi process may still be
  // stopping. Both are told apart by the bridge's error codes and tried again, a few times.
  ChatView.prototype.sendRecovering = function (text, mode, attempt) {
    var self = this;
    return this.sendText(text, mode).catch(function (error) {
      if (attempt >= 3) { throw error; }
      if (error.code === "unknown_session") {
        return self.bindTo(null).then(function () {
          return self.sendRecovering(text, mode, attempt + 1);
        });
      }
      if (error.code === "agent_unavailable" || error.code === "bridge_unreachable") {
        return new Promise(function (resolve) { setTimeout(resolve, 1500); }).then(function () {
          return self.sendRecovering(text, mode, attempt + 1);
        });
      }
      throw error;
    });
  };

  ChatView.prototype.sendText = function (text, mode) {
    var self = this;
    var body = { session_id: this.session.id, message: text, mode: mode };
    return this.workspace.api.post("agent_send", body).catch(function (error) {
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
  };

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
    this.scrollToEnd(true);
  };

  ChatView.prototype.appendMessage = function (message, bulk) {
    this.empty.hidden = true;
    var node = this.renderMessage(message);
    if (node) { this.list.appendChild(node); }
    if (!bulk) { this.scrollToEnd(); }
  };

  ChatView.prototype.renderMessage = function (message) {
    var key = M.key(message);
    if (message.role === "toolResult") {
      var card = this.findCard(message.toolCallId);
      if (card) {
        this.fillCard(card, M.textOf(message.content), Boolean(message.isError), true, false,
          message.details);
        card.dataset.resultKey = key;
        return null;
      }
      var orphan = this.toolCard({ id: message.toolCallId, name: message.toolName, arguments: {} });
      this.fillCard(orphan, M.textOf(message.content), Boolean(message.isError), true, false,
        message.details);
      orphan.dataset.resultKey = key;
      return orphan;
    }
    var node = el("article", "msg msg-" + (message.role || "other"));
    node.dataset.messageKey = key;
    node.dataset.role = message.role || "";
    if (message.role === "user") {
      node.appendChild(el("div", "msg-text", M.textOf(message.content)));
      return node;
    }
    if (message.role === "assistant") {
      this.renderBlocks(node, (message.content || []).map(function (part) {
        if (part.type === "toolCall") { return { type: "toolCall", call: part }; }
        return part;
      }), true);
      if (message.stopReason === "aborted") { node.appendChild(el("div", "msg-stop", "Stopped.")); }
      if (message.stopReason === "error") {
        node.appendChild(el("div", "msg-error", message.errorMessage || "The model returned an error."));
      }
      return node;
    }
    var summary = message.summary || M.textOf(message.content) || message.command || "";
    var details = el("details", "msg-note");
    details.appendChild(el("summary", null, message.role === "compactionSummary"
      ? "Earlier messages were summarised" : (message.role || "note")));
    var body = el("div", "markdown");
    R.markdown(body, typeof summary === "string" ? summary : shortJson(summary));
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
        R.markdown(text, block.text || "");
        node.appendChild(text);
      } else if (block.type === "thinking") {
        var thinking = el("details", "msg-thinking");
        thinking.appendChild(el("summary", null, "Thinking"));
        var body = el("div", "markdown");
        R.markdown(body, block.thinking || block.text || "");
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

  ChatView.prototype.toolCard = function (call) {
    var card = el("details", "tool-card");
    card.dataset.toolCallId = call.id || "";
    card.dataset.toolName = call.name || "";
    var summary = el("summary", "tool-head");
    summary.append(el("span", "tool-name", call.name || "tool"),
      el("code", "tool-summary", toolSummary(call)), el("span", "tool-state", "queued"));
    card.appendChild(summary);
    var body = el("div", "tool-body");
    body.appendChild(el("div", "tool-label", "Input"));
    var input = el("pre", "tool-input");
    R.code(input, shortJson(call.arguments || {}), "json");
    body.appendChild(input);
    body.appendChild(el("div", "tool-label", "Output"));
    body.appendChild(el("pre", "tool-output", ""));
    card.appendChild(body);
    if (call.name === "request_secret") {
      card.open = true;
      body.appendChild(this.workspace.secretForm(call.arguments || {}, this));
    }
    var live = this.session && this.session.liveTools[call.id];
    if (live) { this.fillCard(card, live.output, live.isError, live.done, live.running); }
    return card;
  };

  ChatView.prototype.findCard = function (toolCallId, within) {
    if (!toolCallId) { return null; }
    var scope = within || this.root;
    var cards = scope.querySelectorAll(".tool-card[data-tool-call-id]");
    for (var i = 0; i < cards.length; i += 1) {
      if (cards[i].dataset.toolCallId === toolCallId) { return cards[i]; }
    }
    return null;
  };

  ChatView.prototype.fillCard = function (card, output, isError, done, running, details) {
    this.markTouchedProject(card, details);
    var state = card.querySelector(".tool-state");
    var pre = card.querySelector(".tool-output");
    if (pre) { pre.textContent = output || (done ? "(no output)" : ""); }
    card.classList.toggle("tool-error", Boolean(isError));
    card.classList.toggle("tool-running", Boolean(running) && !done);
    card.classList.toggle("tool-done", Boolean(done));
    if (state) { state.textContent = done ? (isError ? "failed" : "done") : (running ? "running" : "queued"); }
  };

  ChatView.prototype.updateTool = function (toolCallId, live) {
    var card = this.findCard(toolCallId);
    if (card) { this.fillCard(card, live.output, live.isError, live.done, live.running, live.details); }
  };

  // The general agent's tools that write (sprite_write, sprite_exec, create_project) say in
  // their result details which project they touched: the card links to it.
  ChatView.prototype.markTouchedProject = function (card, details) {
    var project = details && details.project;
    if (!project || !project.id || card.querySelector(".tool-project")) { return; }
    var link = el("a", "tool-project", "→ " + (project.name || project.id));
    link.href = "/p/" + encodeURIComponent(project.id) + "/";
    link.title = "Open the project this tool touched";
    link.dataset.touchedProject = project.id;
    var head = card.querySelector(".tool-head");
    (head || card).appendChild(link);
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
    this.root.classList.toggle("is-busy", Boolean(busy));
    this.sendButton.textContent = busy ? "Steer" : "Send";
    this.sendButton.title = busy ? "Redirect the agent now (Enter)" : "Send (Enter)";
    this.followButton.hidden = !busy;
    this.stopButton.hidden = !busy;
    this.working.hidden = !busy;
  };

  ChatView.prototype.setQueue = function (queue) {
    this.queueNode.textContent = "";
    var items = [];
    (queue.steering || []).forEach(function (text) { items.push(["Steer", text]); });
    (queue.followUp || []).forEach(function (text) { items.push(["Follow-up", text]); });
    var self = this;
    items.forEach(function (item) {
      var chip = el("div", "queue-chip");
      chip.append(el("strong", null, item[0] + ":"), document.createTextNode(" " + M.textOf(item[1])));
      self.queueNode.appendChild(chip);
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
    window.starterToast("The agent asks for the secret " + name + ".", "warning");
    // The tool card carrying the form is rendered with the assistant message; focus it.
    setTimeout(function () {
      var field = self.root.querySelector(".secret-form[data-secret-name='" + name + "'] input[type=password]");
      if (field) { field.focus(); field.scrollIntoView({ block: "center" }); }
    }, 50);
  };

  ChatView.prototype.setStatus = function (text) { this.status.textContent = text; };

  ChatView.prototype.scrollToEnd = function (force) {
    var log = this.log;
    var nearEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 160;
    if (force || nearEnd) { log.scrollTop = log.scrollHeight; }
  };

  window.StarterChatView = ChatView;
})();
