// @ts-check
// The home screen's live status badges: lifecycle messages from the home socket, and while
// that socket is down, the project list refreshes itself every few seconds instead.

import { fragment } from "../lib/http.js";
import { LiveSocket } from "../lib/live-socket.js";
import { applyLifecycle } from "../lib/status-badges.js";

/**
 * The page's config (projects/dashboard/pages.py `home`).
 * @typedef {object} HomeConfig
 * @property {{socket: string, list: string}} urls
 */

const list = document.getElementById("project-list");
const configNode = document.getElementById("home-config");
if (list && configNode) {
  /** @type {HomeConfig} */
  const config = JSON.parse(configNode.textContent || "{}");
  /** @type {ReturnType<typeof setInterval> | null} */
  let pollTimer = null;

  const refreshList = () => { fragment(list, config.urls.list, { quiet: true }); };

  /** @param {import("../lib/status-badges.js").LifecyclePayload} payload */
  const showLifecycle = (payload) => {
    if (!applyLifecycle(payload)) { refreshList(); return; }  // a project this page does not show yet
    const progress = /** @type {HTMLElement | null} */ (
      document.querySelector("[data-card-progress='" + payload.public_id + "']"));
    if (progress) {
      progress.hidden = !payload.total || payload.status === "running";
      const bar = /** @type {HTMLElement | null} */ (progress.querySelector("span"));
      if (bar && payload.total) { bar.style.width = Math.round(100 * (payload.done || 0) / payload.total) + "%"; }
    }
    if (payload.status === "destroyed") { refreshList(); }
  };

  /** @param {boolean} on */
  const setPolling = (on) => {
    if (on && !pollTimer) { pollTimer = setInterval(refreshList, 5000); }
    if (!on && pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  };

  const socket = new LiveSocket(config.urls.socket, {
    onMessage: (message) => {
      if (message.kind === "lifecycle" && message.payload) { showLifecycle(message.payload); }
      // A model call was metered: the cards' "today · this month" come from the server.
      if (message.kind === "gateway" && message.payload && message.payload.kind === "usage") { refreshList(); }
    },
    onState: (state) => {
      setPolling(state !== "open");
      // A change between rendering the page and joining the updates would otherwise be lost.
      if (state === "open") { refreshList(); }
    },
  });
  document.addEventListener("DOMContentLoaded", () => { socket.open(); });
  /** @type {any} */ (window).starterHome = { socket };  // only for the e2e tests (test_workspace_controls.py)
}

// "New project" (palette, empty state) lands on the form with the name field focused.
document.addEventListener("DOMContentLoaded", () => {
  const field = document.getElementById("id_name");
  if (!field) { return; }
  if (new URLSearchParams(window.location.search).get("new") || document.querySelector("#new-project .errorlist")) {
    field.focus();
  }
  document.addEventListener("click", (event) => {
    if (/** @type {Element} */ (event.target).closest("[data-focus-new-project]")) { event.preventDefault(); field.focus(); }
  });
});
