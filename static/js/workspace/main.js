// @ts-check
// The project workspace: reads the page's config and wires the modules together — one
// websocket (events.js), the lifecycle (lifecycle.js), the panels and what is in them
// (panels/), the chats (chat/), the sidebar, the model picker and the checkpoints.
//
// The page talks only to the control plane, at the URLs the server put in
// #workspace-config (projects/dashboard/pages.py `render_workspace`).

import { json, request } from "../lib/http.js";
import { toast } from "../lib/toast.js";
import { environmentMessage } from "./environment.js";
import { register as registerPaletteItems } from "../pages/palette.js";
import { announceBranchesChanged } from "./chat/branches.js";
import { createBudgetState } from "./chat/budget-state.js";
import { createSessions } from "./chat/session.js";
import { createNotifier } from "./chat/notify.js";
import { createCheckpoints } from "./checkpoints.js";
import { createDrawer } from "./drawer.js";
import { createEvents } from "./events.js";
import { createLifecycle, isActive } from "./lifecycle.js";
import { createModelPicker } from "./model-picker.js";
import { applyReadOnly } from "./read-only.js";
import { createKinds } from "./panels/kinds.js";
import { Panels } from "./panels/layout.js";
import { createNarrowLayout } from "./panels/narrow.js";
import { createPreviews } from "./panels/preview.js";
import { showPresence } from "./presence.js";
import { createSidebar } from "./sidebar.js";
import { createUsageMeter } from "./usage-meter.js";

const configNode = document.getElementById("workspace-config");
if (configNode) { start(JSON.parse(configNode.textContent || "{}")); }

/** @param {any} config */
function start(config) {
  const urls = config.urls;
  // A viewer of the project's organisation watches only (pages.py `render_workspace`).
  const root = document.querySelector(".ws");
  if (config.can && !config.can.use && root instanceof HTMLElement) {
    applyReadOnly(root, config.viewerNote || "You can watch but not prompt.");
  }
  const api = {
    /** @param {string} name @param {Record<string, any>} [params] */
    get: (name, params) => json(urls[name], params),
    /** @param {string} name @param {object} [body] */
    post: (name, body) => request("POST", urls[name], body || {}),
    /** @param {string | null} sessionId */
    history: (sessionId) => json(urls.agent_history, { session_id: sessionId }),
    sessions: () => json(urls.agent_sessions),
  };

  /** @type {any} */
  let panels = null;
  const previews = createPreviews((port) => api.get("preview_link", port ? { port } : undefined));
  const lifecycle = createLifecycle({ publicId: config.publicId, urls, onRunning: startWorking });
  const sidebar = createSidebar({
    url: urls.inspect,
    serviceActionUrl: urls.service_action,
    isActive: () => isActive(lifecycle.status),
    openPanel,
  });
  const picker = createModelPicker({ providers: config.providers, api });
  const openCheckpoints = createCheckpoints(urls.checkpoints);
  const usageMeter = createUsageMeter({ url: urls.usage, initial: config.usage || {}, views: () => workspace.views });
  showPresence();  // before the socket opens: the first frame lists who is here
  const events = createEvents({
    socketUrl: urls.websocket,
    readState: () => api.get("agent_state"),
    owners: {
      session: (event) => {
        sessions.receive(event);
        // Trace panels redraw the session's tree: a branch was added or chosen.
        if (event.type === "branch_changed" || event.type === "agent_end") { announceBranchesChanged(); }
        if (event.type === "agent_settled") { budget.refresh(); }
        // A run is over once pi settles (after retries and queued messages), or when the
        // bridge writes the end of a run that died with pi.
        if (event.type === "agent_settled" || (event.type === "agent_end" && event.data && event.data.interrupted)) {
          notifier.runEnded(event.session_id);
        }
        if (event.type === "secret_requested") {
          notifier.secretRequested(event.session_id, String((event.data || {}).name || "a secret"));
        }
      },
      notify: (data) => {
        toast(data.message || "The agent says hello.", data.level || "info");
        if (data.refresh_iframe) { previews.reloadAll(); }
      },
      previews: () => { previews.reloadAll(); },
      sidebar: () => { sidebar.refresh(); },
      serviceRun: (data) => {
        sidebar.refresh();
        document.dispatchEvent(new CustomEvent("starter:service-run", { detail: { service: String(data.service || "") } }));
      },
      sessionList: () => { workspace.views.forEach((view) => { view.refreshSessions(); }); },
      sessionDeleted: (event) => {
        delete sessions.byId[event.session_id];
        workspace.views.forEach((view) => { view.sessionDeleted(event); });
      },
      thinking: (event) => { picker.thinkingChanged(event); },
      environment: (event) => { toast(environmentMessage(event.data || {}), "info"); },
      // The bridge's log no longer matches our cursor (restored checkpoint, or we were away
      // too long): start over from the messages and the bridge's current cursor.
      reset: () => { sessions.reloadAll(); sidebar.refresh(); },
      // The log went on (its ids never go back), but the files are the checkpoint's and
      // each kept session has a restore marker: reload what shows them.
      restored: () => { sessions.reloadAll(); sidebar.refresh(); announceBranchesChanged(); },
      lifecycle: (payload) => { lifecycle.apply(payload); },
      author: (frame) => { sessions.authored(frame); },
      gateway: (payload) => {
        if (payload.kind === "usage") { usageMeter.apply(payload); }
        if (payload.kind === "budget") { budget.refresh(); }
      },
      budget: () => { budget.refresh(); },
      connection: (state) => { lifecycle.showConnection(state); },
    },
  });
  const notifier = createNotifier({
    sessionLabel: (sessionId) => {
      const view = workspace.views.find((candidate) => candidate.session && candidate.session.id === sessionId);
      const session = sessions.byId[sessionId];
      return (view && view.currentName()) || (session && session.name) || "Session …" + String(sessionId).slice(-6);
    },
    focusSession: (sessionId) => {
      const view = workspace.views.find((candidate) => candidate.session && candidate.session.id === sessionId);
      if (view) { view.input.focus(); }
    },
  });
  const sessions = createSessions({ history: api.history, recentEventsOf: events.recentEventsOf });
  const budget = createBudgetState({
    read: (name) => api.get(name),
    urls,
    views: () => workspace.views,
    raiseProjectBudget: () => { openPanel("manage", {}); },
  });

  // What the chat panels use (chat/view.js `ChatContext`), and what the e2e tests read.
  const workspace = {
    config,
    api,
    events,
    notifier,
    sessions: sessions.byId,
    sessionFor: sessions.sessionFor,
    /** @type {any[]} the chat views on the page */
    views: /** @type {any[]} */ ([]),
    /** @type {any} */
    focusedChat: null,
    /** @type {any} the panel layout, once the project runs */
    panels: null,
    openPanel,
    /** @param {any} view @param {string} sessionId */
    panelSessionChanged(view, sessionId) {
      if (view.onBound) { view.onBound(sessionId); }
      budget.applyTo(view);
      usageMeter.bind(view, sessionId);
      if (!workspace.focusedChat || workspace.focusedChat === view) { focusChat(view); }
    },
    /** @param {string} sessionId the messages a session's panel shows */
    transcript(sessionId) {
      const session = sessions.byId[sessionId];
      return session ? session.messages : null;
    },
    budget,
    get connects() { return events.connects; },
    get socket() { return events.socket; },
  };
  /** @type {any} */ (window).starterWorkspace = workspace;  // only for the e2e tests and debugging
  const kinds = createKinds(workspace, previews);

  /** @param {any} view */
  function focusChat(view) {
    workspace.focusedChat = view;
    picker.show(view);
  }

  /**
   * Focus the panel already showing this (a preview, a file…), else open it: in place of
   * an empty launcher, or beside the focused panel.
   * @param {string} kind
   * @param {any} props
   */
  function openPanel(kind, props) {
    if (!panels) { return null; }
    const existing = panels.find((/** @type {any} */ panel) => {
      if (panel.kind !== kind) { return false; }
      if (kind === "manage") { return true; }
      if (kind === "preview") { return (panel.props.port || null) === (props.port || null); }
      if (kind === "asset" || kind === "logs") { return panel.props.path === props.path && panel.props.service === props.service; }
      if (kind === "runs") { return panel.props.service === props.service; }
      if (kind === "trace") { return panel.props.sessionId === props.sessionId; }
      return false;
    });
    if (existing) { panels.focusedId = existing.id; panels.focusPanel(existing.id); return existing; }
    const launcher = panels.find((/** @type {any} */ panel) => panel.kind === "launcher");
    if (launcher) { panels.replace(launcher.id, kind, props); return null; }
    return panels.open(kind, props);
  }

  function startPanels() {
    if (panels) { return; }
    const workArea = /** @type {HTMLElement} */ (document.getElementById("panels"));
    panels = new /** @type {any} */ (Panels)(workArea, {
      projectId: config.publicId,
      kinds,
      initial: () => ({ type: "panel", id: "p-initial", kind: "chat", props: {} }),
      onEmpty: () => { panels.open("launcher", {}); },
    });
    workspace.panels = panels;
    createNarrowLayout(panels, workArea,
      /** @type {HTMLSelectElement} */ (document.getElementById("panel-switcher-select")),
      /** @type {HTMLElement} */ (document.getElementById("panel-switcher")));
    workArea.addEventListener("focusin", (event) => {
      const panel = /** @type {Element} */ (event.target).closest(".panel-chat");
      if (!panel) { return; }
      const view = workspace.views.find((candidate) => panel.contains(candidate.root));
      if (view) { focusChat(view); }
    });
  }

  function startWorking() {
    budget.refresh();
    events.start().then(startPanels, (error) => {
      toast(error.message, "error");
      startPanels();
    });
    sidebar.refresh();
  }

  registerPaletteItems(() => {
    const group = "This project";
    const items = [
      { group, label: "New chat", hint: "Opens beside the current panel", run: () => openPanel("chat", { fresh: true }) },
      { group, label: "App preview", run: () => openPanel("preview", {}) },
      { group, label: "Files", hint: "The home: upload, edit, download", run: () => openPanel("files", {}) },
      { group, label: "New terminal", hint: "A shell in the project's machine", run: () => openPanel("terminal", {}) },
      { group, label: "Checkpoints", run: openCheckpoints },
      { group, label: "Project settings, secrets and lifecycle", run: () => openPanel("manage", {}) },
    ];
    if (panels) {
      items.push(
        { group, label: "Next panel", hint: "Alt+]", run: () => { setTimeout(() => panels.focusNext(1), 0); } },
        { group, label: "Previous panel", hint: "Alt+[ · Alt+Shift+Arrow moves by direction", run: () => { setTimeout(() => panels.focusNext(-1), 0); } },
      );
    }
    if (lifecycle.status === "sleeping") { items.push({ group, label: "Wake this project", run: () => lifecycle.act("wake") }); }
    if (lifecycle.status === "running") { items.push({ group, label: "Put this project to sleep", run: () => lifecycle.act("sleep") }); }
    const chat = workspace.focusedChat;
    if (chat && chat.session) {
      items.push({ group, label: "Session trace (raw JSONL)", run: () => openPanel("trace", { sessionId: chat.session.id }) });
    }
    if (chat) {
      // After the palette's own close, which gives the focus back to where it was.
      items.push({ group, label: "New named session…", hint: "In the focused chat", run: () => { setTimeout(() => chat.askNewSessionName(), 0); } });
    }
    return items;
  });

  document.addEventListener("DOMContentLoaded", () => {
    createDrawer({
      toggle: /** @type {HTMLButtonElement} */ (document.getElementById("drawer-toggle")),
      drawer: /** @type {HTMLElement} */ (document.getElementById("ws-sidebar")),
      backdrop: /** @type {HTMLElement} */ (document.getElementById("drawer-backdrop")),
      container: /** @type {HTMLElement} */ (document.querySelector(".ws")),
    });
    events.socket.open();
    lifecycle.setStatus(config.status);
  });
}
