// The project workspace: one websocket, the chat sessions, the panels and the top bar.
//
// The page talks only to the control plane: JSON views under /p/<id>/agent/…, HTML
// fragments for viewers, and /ws/projects/<id>/ for events and lifecycle progress.
(function () {
  "use strict";

  var configNode = document.getElementById("workspace-config");
  if (!configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var RING_SIZE = 5000;
  // Panels need the agent; a sleeping project shows its Wake card instead of waking itself
  // just because someone looked at it.
  var ACTIVE = { running: true };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = text; }
    return node;
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (error) { return ""; }
  }

  // -- talking to the control plane ---------------------------------------------------------

  function request(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : {}; } catch (error) { data = null; }
        if (!response.ok) {
          var message = data && data.message ? data.message
            : "The request failed (" + response.status + "). Try again in a moment.";
          var failure = new Error(message);
          failure.status = response.status;
          failure.code = data && data.error;
          throw failure;
        }
        return data || {};
      });
    }, function () {
      throw new Error("The dashboard cannot be reached; check your connection.");
    });
  }

  function withQuery(url, params) {
    var query = Object.keys(params || {}).filter(function (key) { return params[key] != null; })
      .map(function (key) { return encodeURIComponent(key) + "=" + encodeURIComponent(params[key]); });
    return query.length ? url + "?" + query.join("&") : url;
  }

  var api = {
    get: function (name, params) { return request("GET", withQuery(config.urls[name], params)); },
    post: function (name, body) { return request("POST", config.urls[name], body || {}); },
    history: function (sessionId) { return api.get("agent_history", { session_id: sessionId }); },
    sessions: function () { return api.get("agent_sessions"); },
  };

  function loadFragment(target, url) {
    target.setAttribute("aria-busy", "true");
    return fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        target.innerHTML = html;
        enhance(target);
        if (window.htmx) { window.htmx.process(target); }
      }, function () {
        target.innerHTML = "";
        target.appendChild(el("div", "panel-message panel-message-error", "The dashboard cannot be reached; check your connection."));
      })
      .finally(function () { target.removeAttribute("aria-busy"); });
  }

  // Server fragments mark what the browser finishes: Markdown and code highlighting.
  function enhance(root) {
    root.querySelectorAll("[data-markdown-source]").forEach(function (source) {
      var target = source.nextElementSibling;
      if (target) { window.starterRender.markdown(target, source.textContent); }
    });
    window.starterRender.highlightWithin(root);
  }

  // -- sessions, events and the cursor ------------------------------------------------------

  var workspace = {
    config: config,
    api: api,
    sessions: {},
    ring: [],
    cursor: null,
    status: null,
    connects: 0,
    views: [],
    focusedChat: null,
  };
  window.starterWorkspace = workspace;

  workspace.recentEventsOf = function (sessionId) {
    return workspace.ring.filter(function (event) { return event.session_id === sessionId; });
  };

  workspace.sessionFor = function (sessionId) {
    if (sessionId && workspace.sessions[sessionId]) {
      var known = workspace.sessions[sessionId];
      return known.loaded ? Promise.resolve(known) : known.load();
    }
    if (sessionId) {
      var session = new window.StarterChatSession(sessionId, workspace);
      workspace.sessions[sessionId] = session;
      return session.load().catch(function (error) {
        delete workspace.sessions[sessionId];
        throw error;
      });
    }
    // No id yet: the bridge's current session (started if there is none).
    return api.history(null).then(function (data) {
      var id = data.session_id;
      var existing = workspace.sessions[id];
      if (existing) { return existing.loaded ? existing : existing.load(); }
      var fresh = new window.StarterChatSession(id, workspace);
      workspace.sessions[id] = fresh;
      fresh.applyHistory(data);
      return fresh;
    });
  };

  // For tests and debugging: the messages a session's panel shows.
  workspace.transcript = function (sessionId) {
    var session = workspace.sessions[sessionId];
    return session ? session.messages : null;
  };

  workspace.sessionLabel = function (summary) {
    var tail = String(summary.id || "").slice(-6);
    var when = summary.last_activity || summary.created;
    var label = summary.name || ("Session …" + tail);
    if (when) {
      var date = new Date(when);
      if (!isNaN(date)) { label += " · " + date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }); }
    }
    if (summary.message_count) { label += " · " + summary.message_count + " msgs"; }
    return label;
  };

  function handleEvent(event) {
    if (!event) { return; }
    if (event.type === "reset") { rebuild(event); return; }
    var id = Number(event.id);
    if (workspace.cursor != null && id <= workspace.cursor) { return; }  // never twice
    workspace.cursor = id;
    workspace.ring.push(event);
    if (workspace.ring.length > RING_SIZE) { workspace.ring.splice(0, workspace.ring.length - RING_SIZE); }
    var session = event.session_id ? workspace.sessions[event.session_id] : null;
    if (session) { session.receive(event); }
    var data = event.data || {};
    switch (event.type) {
      case "notify":
        window.starterToast(data.message || "The agent says hello.", data.level || "info");
        if (data.refresh_iframe) { reloadPreviews(); }
        break;
      case "app_port":
        reloadPreviews();
        break;
      case "inspect_changed":
        refreshSidebar();
        break;
      case "session_started":
      case "session_ended":
        workspace.views.forEach(function (view) { view.refreshSessions(); });
        break;
      default:
        break;
    }
  }

  // `reset`: the bridge's log no longer matches our cursor (restored checkpoint, or we were
  // away too long). Start over from the messages and the bridge's current cursor.
  function rebuild(event) {
    workspace.ring = [];
    workspace.cursor = Number(event && event.id) || null;
    Object.keys(workspace.sessions).forEach(function (id) { workspace.sessions[id].load(); });
    refreshSidebar();
  }

  var socket = new window.StarterLiveSocket(config.urls.websocket, {
    cursor: function () { return workspace.cursor; },
    onMessage: function (message) {
      if (message.kind === "event") { handleEvent(message.event); }
      else if (message.kind === "events") { (message.events || []).forEach(function (event) { handleEvent(event); }); }
      else if (message.kind === "lifecycle") { applyLifecycle(message.payload || {}); }
      else if (message.kind === "relay") { showConnection(message.state); }
    },
    onState: function (state) {
      if (state === "open") { workspace.connects += 1; showConnection("connected"); }
      else if (state === "closed" || state === "connecting") { showConnection("reconnecting"); }
      else if (state === "not_found") { showConnection("gone"); }
      else if (state === "logged_out") { window.location.reload(); }
    },
  });
  workspace.socket = socket;

  // The first subscription starts from the bridge's cursor, read before any history, so
  // nothing that happens while the panels load can slip between the two.
  function startCursor() {
    if (workspace.cursor != null) { return Promise.resolve(workspace.cursor); }
    return api.get("agent_state").then(function (state) {
      if (workspace.cursor == null) { workspace.cursor = Number(state.last_event_id) || 0; }
      socket.reconnectNow();
      return workspace.cursor;
    });
  }

  var connectionNode = document.getElementById("connection-state");
  var CONNECTION_TEXT = {
    connected: ["Live", "ok"],
    reconnecting: ["Reconnecting…", "warn"],
    upstream_down: ["Agent unreachable — retrying", "warn"],
    sprite_not_running: ["Machine not running", "idle"],
    gone: ["Project unavailable", "error"],
  };
  function showConnection(state) {
    if (!connectionNode) { return; }
    var text = CONNECTION_TEXT[state] || [state, "idle"];
    connectionNode.textContent = text[0];
    connectionNode.className = "connection connection-" + text[1];
    connectionNode.dataset.state = state;
  }

  // -- lifecycle: the status badge and the progress stage -----------------------------------

  var stage = document.getElementById("lifecycle-stage");
  var workArea = document.getElementById("panels");

  function applyLifecycle(payload) {
    if (payload.public_id && payload.public_id !== config.publicId) { return; }
    document.querySelectorAll("[data-status-badge='" + config.publicId + "']").forEach(function (badge) {
      badge.className = "badge badge-" + payload.status;
      badge.textContent = payload.status_label || payload.status;
    });
    var card = stage ? stage.querySelector("#lifecycle") : null;
    if (card && payload.total) {
      var bar = card.querySelector(".progress > span");
      var step = card.querySelector("[data-progress-step]");
      var meter = card.querySelector("[role=progressbar]");
      if (bar) { bar.style.width = Math.round(100 * payload.done / payload.total) + "%"; }
      if (step) { step.textContent = payload.step + " (" + payload.done + "/" + payload.total + ")"; }
      if (meter) { meter.setAttribute("aria-valuenow", payload.done); meter.setAttribute("aria-valuemax", payload.total); }
    }
    if (card && payload.status !== card.dataset.status) { refreshLifecycle(); }
    setStatus(payload.status);
  }

  function refreshLifecycle() {
    if (!window.htmx) { return; }
    document.querySelectorAll("section.lifecycle-card").forEach(function (card) {
      window.htmx.ajax("GET", config.urls.lifecycle, { target: card, swap: "outerHTML" });
    });
  }

  function setStatus(status) {
    var previous = workspace.status;
    workspace.status = status;
    document.body.dataset.projectStatus = status;
    var active = Boolean(ACTIVE[status]);
    if (stage) { stage.hidden = active; }
    if (workArea) { workArea.hidden = !active; }
    document.querySelectorAll("[data-needs-running]").forEach(function (node) { node.hidden = !active; });
    if (status === "running" && previous !== "running") { startWorking(); }
    if (status === "destroyed") { window.location.href = "/"; }
  }

  // The htmx fallback (the lifecycle card polls itself while busy) also moves the page on.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var card = event.target && event.target.id === "lifecycle" ? event.target : document.getElementById("lifecycle");
    if (card && card.dataset.status && card.dataset.status !== workspace.status) { setStatus(card.dataset.status); }
  });

  // -- panels -------------------------------------------------------------------------------

  var previewFrames = [];

  function reloadPreviews() {
    previewFrames.forEach(function (preview) { preview.reload(); });
  }

  var kinds = {
    chat: {
      title: function () { return "Chat"; },
      mount: function (body, props, control) {
        var view = new window.StarterChatView(body, workspace, props.fresh ? null : props.sessionId);
        view.onBound = function (sessionId) { control.setProps({ sessionId: sessionId, fresh: false }); };
        workspace.views.push(view);
        if (props.fresh) { view.newSession(); }
        return {
          destroy: function () {
            view.destroy();
            workspace.views = workspace.views.filter(function (other) { return other !== view; });
          },
          view: view,
        };
      },
    },
    preview: {
      title: function () { return "App preview"; },
      mount: function (body) { return mountPreview(body); },
    },
    asset: {
      title: function (props) { return props.name || props.path || "File"; },
      mount: function (body, props) {
        body.classList.add("panel-scroll");
        loadFragment(body, withQuery(config.urls.file_view, { path: props.path }));
        return {};
      },
    },
    logs: {
      title: function (props) { return "Logs · " + (props.name || props.path || props.service || ""); },
      mount: function (body, props) { return mountLogs(body, props); },
    },
    trace: {
      title: function (props) { return "Trace · …" + String(props.sessionId || "").slice(-6); },
      mount: function (body, props) {
        body.classList.add("panel-scroll");
        loadFragment(body, config.urls.trace.replace("SESSION", encodeURIComponent(props.sessionId)));
        return {};
      },
    },
    details: {
      title: function (props) { return props.title || "Details"; },
      mount: function (body, props) {
        body.classList.add("panel-scroll");
        var list = el("dl", "details-list");
        list.setAttribute("hx-disable", "");
        (props.fields || []).forEach(function (field) {
          if (field[1] == null || field[1] === "") { return; }
          list.append(el("dt", null, field[0]), el("dd", null, String(field[1])));
        });
        body.appendChild(list);
        return {};
      },
    },
    manage: {
      title: function () { return "Project settings"; },
      mount: function (body) {
        body.classList.add("panel-scroll");
        loadFragment(body, config.urls.manage);
        return {};
      },
    },
    launcher: {
      title: function () { return "Open…"; },
      mount: function (body, props, control) { return mountLauncher(body, control); },
    },
  };

  function mountPreview(body) {
    var bar = el("div", "panel-toolbar");
    var reload = el("button", "button button-small", "Reload");
    reload.type = "button";
    var open = el("a", "button button-small button-ghost", "Open in new tab");
    open.target = "_blank";
    open.rel = "noopener";
    var note = el("span", "muted small", "");
    bar.append(reload, open, el("span", "spacer"), note);
    var frame = el("iframe", "preview-frame");
    frame.title = "The app the agent built";
    frame.setAttribute("sandbox", "allow-scripts allow-forms allow-same-origin allow-popups allow-modals allow-downloads");
    var message = el("div", "panel-message");
    message.hidden = true;
    body.append(bar, message, frame);
    var preview = {
      reload: function () {
        note.textContent = "Loading…";
        return api.get("preview_link").then(function (data) {
          message.hidden = true;
          frame.hidden = false;
          frame.src = data.url;
          open.href = data.url;
          note.textContent = "";
        }, function (error) {
          frame.hidden = true;
          message.hidden = false;
          message.textContent = error.message;
          note.textContent = "";
        });
      },
      destroy: function () { previewFrames = previewFrames.filter(function (p) { return p !== preview; }); },
    };
    reload.addEventListener("click", function () { preview.reload(); });
    previewFrames.push(preview);
    preview.reload();
    return preview;
  }

  function mountLogs(body, props) {
    body.classList.add("panel-scroll");
    var timer = null;
    function url() {
      return withQuery(config.urls.logs, props.path ? { path: props.path } : { service: props.service });
    }
    function refresh() {
      var follow = body.querySelector("input[name=follow]");
      var keepFollowing = !follow || follow.checked;
      return loadFragment(body, url()).then(function () {
        var box = body.querySelector("input[name=follow]");
        if (box) { box.checked = keepFollowing; }
        var pre = body.querySelector(".log-output");
        if (pre && keepFollowing) { pre.scrollTop = pre.scrollHeight; }
      });
    }
    body.addEventListener("submit", function (event) {
      if (!event.target.matches(".log-path-form")) { return; }
      event.preventDefault();
      var value = event.target.querySelector("input[name=path]").value.trim();
      if (value) { props.path = value; refresh(); }
    });
    refresh();
    timer = setInterval(function () {
      var follow = body.querySelector("input[name=follow]");
      if (follow && follow.checked && document.visibilityState === "visible") { refresh(); }
    }, 2500);
    return { destroy: function () { clearInterval(timer); } };
  }

  function mountLauncher(body, control) {
    var box = el("div", "launcher");
    box.appendChild(el("h3", null, "Open in this panel"));
    var grid = el("div", "launcher-grid");
    [["New chat", "chat", { fresh: true }], ["Current chat", "chat", {}], ["App preview", "preview", {}],
      ["Project settings", "manage", {}]].forEach(function (entry) {
      var button = el("button", "launcher-item", entry[0]);
      button.type = "button";
      button.addEventListener("click", function () { control.replace(entry[1], entry[2]); });
      grid.appendChild(button);
    });
    box.appendChild(grid);
    box.appendChild(el("p", "muted small", "Or pick a service, integration or asset in the sidebar."));
    body.appendChild(box);
    return {};
  }

  var panels = null;

  workspace.openPanel = function (kind, props) {
    var existing = panels.find(function (panel) {
      if (panel.kind !== kind) { return false; }
      if (kind === "preview" || kind === "manage") { return true; }
      if (kind === "asset" || kind === "logs") { return panel.props.path === props.path && panel.props.service === props.service; }
      if (kind === "trace") { return panel.props.sessionId === props.sessionId; }
      return false;
    });
    if (existing) { panels.focusedId = existing.id; panels.focusPanel(existing.id); return existing; }
    var launcher = panels.find(function (panel) { return panel.kind === "launcher"; });
    if (launcher) { panels.replace(launcher.id, kind, props); return null; }
    return panels.open(kind, props);
  };

  workspace.panelSessionChanged = function (view, sessionId) {
    if (view.onBound) { view.onBound(sessionId); }
    if (!workspace.focusedChat || workspace.focusedChat === view) { focusChat(view); }
  };

  function startPanels() {
    if (panels) { return; }
    panels = new window.StarterPanels(workArea, {
      projectId: config.publicId,
      kinds: kinds,
      initial: function () { return { type: "panel", id: "p-initial", kind: "chat", props: {} }; },
      onEmpty: function () { panels.open("launcher", {}); },
    });
    workspace.panels = panels;
    workArea.addEventListener("focusin", function (event) {
      var panel = event.target.closest(".panel-chat");
      if (!panel) { return; }
      var view = workspace.views.filter(function (v) { return panel.contains(v.root); })[0];
      if (view) { focusChat(view); }
    });
  }

  function startWorking() {
    startCursor().then(startPanels, function (error) {
      window.starterToast(error.message, "error");
      startPanels();
    });
    refreshSidebar();
  }

  // -- sidebar ------------------------------------------------------------------------------

  var sidebar = document.getElementById("inventory");
  var sidebarTimer = null;
  function refreshSidebar() {
    if (!sidebar || !ACTIVE[workspace.status]) { return; }
    clearTimeout(sidebarTimer);
    // Several inspect_changed in a row (the agent writing rows) become one reload.
    sidebarTimer = setTimeout(function () { loadFragment(sidebar, config.urls.inspect); }, 150);
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open]");
    if (!opener) { return; }
    event.preventDefault();
    var kind = opener.dataset.open;
    var props = {};
    if (kind === "asset") { props = { path: opener.dataset.path, name: opener.dataset.name }; }
    if (kind === "logs") { props = { service: opener.dataset.service, name: opener.dataset.name }; }
    if (kind === "chat") { props = opener.dataset.session ? { sessionId: opener.dataset.session } : { fresh: true }; }
    if (kind === "details") {
      props = { title: opener.dataset.name, fields: JSON.parse(opener.dataset.fields || "[]") };
    }
    if (!panels) { return; }
    workspace.openPanel(kind, props);
  });

  // -- model picker (top bar): the focused chat's session -----------------------------------

  var picker = document.getElementById("model-picker");
  var providerSelect = document.getElementById("picker-provider");
  var modelSelect = document.getElementById("picker-model");
  var thinkingSelect = document.getElementById("picker-thinking");
  // Choices apply as they change; the form itself never submits.
  if (picker) { picker.addEventListener("submit", function (event) { event.preventDefault(); }); }

  function providerByName(name) {
    return config.providers.filter(function (provider) { return provider.name === name; })[0];
  }

  function fillModels(providerName, selected) {
    modelSelect.textContent = "";
    var provider = providerByName(providerName);
    var models = provider ? provider.models.slice() : [];
    if (selected && !models.some(function (m) { return m.id === selected; })) { models.unshift({ id: selected, name: selected }); }
    models.forEach(function (model) {
      var option = el("option", null, model.name && model.name !== model.id ? model.name + " — " + model.id : model.id);
      option.value = model.id;
      option.selected = model.id === selected;
      modelSelect.appendChild(option);
    });
    modelSelect.disabled = !models.length;
  }

  function fillProviders(selected) {
    providerSelect.textContent = "";
    var usable = el("optgroup");
    usable.label = "Ready to use";
    var others = el("optgroup");
    others.label = "Needs an API key (Settings)";
    var seen = false;
    config.providers.forEach(function (provider) {
      var option = el("option", null, provider.label);
      option.value = provider.name;
      option.selected = provider.name === selected;
      seen = seen || option.selected;
      (provider.has_key ? usable : others).appendChild(option);
    });
    if (selected && !seen) {
      var current = el("option", null, selected);
      current.value = selected;
      current.selected = true;
      usable.insertBefore(current, usable.firstChild);
    }
    providerSelect.append(usable, others);
  }

  function focusChat(view) {
    workspace.focusedChat = view;
    if (!picker || !view.session) { return; }
    api.get("agent_state", { session_id: view.session.id }).then(function (state) {
      var model = state.model || {};
      // pi reports provider "unknown" when no provider has a key yet: offer a choice instead.
      var known = Boolean(model.provider && model.id && model.provider !== "unknown" && model.id !== "unknown");
      fillProviders(known ? model.provider : "");
      fillModels(known ? model.provider : "", known ? model.id : "");
      if (!known) {
        var placeholder = el("option", null, "Choose a model…");
        placeholder.value = "";
        placeholder.disabled = true;
        placeholder.selected = true;
        providerSelect.insertBefore(placeholder, providerSelect.firstChild);
        if (!modelSelect.options.length) { modelSelect.appendChild(el("option", null, "—")); }
      }
      thinkingSelect.value = state.thinking_level || "off";
      picker.hidden = false;
    }, function () { /* the picker stays as it was */ });
  }

  function applyConfig(body) {
    var view = workspace.focusedChat;
    if (!view || !view.session) { return; }
    body.session_id = view.session.id;
    picker.setAttribute("aria-busy", "true");
    api.post("agent_config", body).then(function (state) {
      var model = state.model || {};
      window.starterToast("Now using " + (model.provider ? model.provider + "/" + model.id : "the new setting") +
        (state.thinking_level ? " · thinking " + state.thinking_level : "") + ".", "success");
      if (state.thinking_level) { thinkingSelect.value = state.thinking_level; }
    }, function (error) {
      window.starterToast(error.message, "error");
      focusChat(view);
    }).finally(function () { picker.removeAttribute("aria-busy"); });
  }

  if (picker) {
    providerSelect.addEventListener("change", function () {
      fillModels(providerSelect.value, "");
      if (modelSelect.value) { applyConfig({ model: providerSelect.value + "/" + modelSelect.value }); }
    });
    modelSelect.addEventListener("change", function () {
      applyConfig({ model: providerSelect.value + "/" + modelSelect.value });
    });
    thinkingSelect.addEventListener("change", function () {
      applyConfig({ thinking_level: thinkingSelect.value });
    });
  }

  // -- secrets the agent asks for -----------------------------------------------------------

  workspace.secretForm = function (args, view) {
    var name = String(args.name || "").trim().toUpperCase().replace(/[^A-Z0-9_]/g, "_");
    var form = el("form", "secret-form");
    form.dataset.secretName = name;
    var saved = config.secretNames.indexOf(name) >= 0;
    if (saved) {
      form.appendChild(el("p", "secret-saved", "✓ " + name + " is set. Its value is never shown."));
      return form;
    }
    form.appendChild(el("p", "secret-reason", args.reason || "The agent needs this credential."));
    var id = "secret-" + name + "-" + Math.random().toString(36).slice(2, 8);
    var label = el("label", null, "Value for " + name);
    label.htmlFor = id;
    var input = el("input");
    input.type = "password";
    input.id = id;
    input.autocomplete = "off";
    input.required = true;
    var button = el("button", "button button-primary button-small", "Save secret");
    button.type = "submit";
    var row = el("div", "row");
    row.append(input, button);
    var hint = el("p", "muted small", "Stored encrypted for this project; the agent gets it as $" + name + ", never in the chat.");
    form.append(label, row, hint);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = input.value;
      if (!value) { input.focus(); return; }
      button.disabled = true;
      api.post("secret_provide", { name: name, value: value }).then(function () {
        input.value = "";
        config.secretNames.push(name);
        form.textContent = "";
        form.appendChild(el("p", "secret-saved", "✓ " + name + " saved. The agent is told it is set (never its value)."));
        tellAgentSecretIsSet(view, name);
      }, function (error) {
        button.disabled = false;
        window.starterToast(error.message, "error");
      });
    });
    return form;
  };

  // Saving a secret restarts the Sprite's bridge with the new environment; the agent is told
  // once its session is back (or after a while), by name only.
  function tellAgentSecretIsSet(view, name) {
    if (!view || !view.session) { return; }
    var session = view.session;
    var since = workspace.cursor || 0;
    var started = Date.now();
    var timer = setInterval(function () {
      var restarted = workspace.ring.some(function (event) {
        return event.id > since && event.type === "session_started";
      });
      if (restarted || Date.now() - started > 15000) {
        clearInterval(timer);
        view.sendText("I saved the secret " + name + ". It is available to you as the environment variable $" + name + ".", "follow_up")
          .catch(function (error) { view.note(error.message, "error"); });
      }
    }, 500);
  }

  // Lifecycle buttons (wake, sleep, retry, re-bootstrap) act in place: the page stays, the
  // progress arrives on the socket. Without this script they are plain form posts.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var action = form.getAttribute("action") || "";
    var match = action.match(/\/actions\/([a-z]+)\/$/);
    if (!match || form.method.toLowerCase() !== "post") { return; }
    event.preventDefault();
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (button) { button.disabled = true; });
    lifecycleAction(match[1]).then(function () {
      buttons.forEach(function (button) { button.disabled = false; });
    });
  });

  // -- checkpoints and the palette -----------------------------------------------------------

  var checkpointDialog = document.getElementById("checkpoints-dialog");
  workspace.openCheckpoints = function () {
    if (!checkpointDialog) { return; }
    var body = checkpointDialog.querySelector(".dialog-body");
    checkpointDialog.showModal();
    loadFragment(body, config.urls.checkpoints);
  };
  document.querySelectorAll("[data-open-checkpoints]").forEach(function (button) {
    button.addEventListener("click", workspace.openCheckpoints);
  });

  function lifecycleAction(action) {
    return request("POST", "/p/" + config.publicId + "/actions/" + action + "/").then(function (data) {
      window.starterToast(data.message, "info");
    }, function (error) { window.starterToast(error.message, "error"); });
  }

  if (window.starterPalette) {
    window.starterPalette.register(function () {
      var items = [
        { group: "This project", label: "New chat", hint: "Opens beside the current panel", run: function () { workspace.openPanel("chat", { fresh: true }); } },
        { group: "This project", label: "App preview", run: function () { workspace.openPanel("preview", {}); } },
        { group: "This project", label: "Checkpoints", run: workspace.openCheckpoints },
        { group: "This project", label: "Project settings, secrets and lifecycle", run: function () { workspace.openPanel("manage", {}); } },
      ];
      if (workspace.status === "sleeping") { items.push({ group: "This project", label: "Wake this project", run: function () { lifecycleAction("wake"); } }); }
      if (workspace.status === "running") { items.push({ group: "This project", label: "Put this project to sleep", run: function () { lifecycleAction("sleep"); } }); }
      var chat = workspace.focusedChat;
      if (chat && chat.session) {
        items.push({ group: "This project", label: "Session trace (raw JSONL)", run: function () { workspace.openPanel("trace", { sessionId: chat.session.id }); } });
      }
      return items;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    socket.open();
    setStatus(config.status);
  });
})();
