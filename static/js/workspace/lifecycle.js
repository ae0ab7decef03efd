// @ts-check
// The project's lifecycle on the workspace page: the status badge, the progress stage,
// the lifecycle buttons (wake, sleep, retry, re-bootstrap) and the connection indicator.

import { fragment, request } from "../lib/http.js";
import { applyLifecycle } from "../lib/status-badges.js";
import { toast } from "../lib/toast.js";

// Panels need the agent; a sleeping project shows its Wake card instead of waking itself
// just because someone looked at it.
/** @type {Record<string, boolean>} */
const ACTIVE = { running: true };

/** @type {Record<string, [string, string]>} */
const CONNECTION_TEXT = {
  connected: ["Live", "ok"],
  reconnecting: ["Reconnecting…", "warn"],
  upstream_down: ["Agent unreachable — retrying", "warn"],
  sprite_not_running: ["Machine not running", "idle"],
  gone: ["Project unavailable", "error"],
};

/** @param {string | null} status */
export function isActive(status) { return Boolean(status && ACTIVE[status]); }

/**
 * @param {object} options
 * @param {string} options.publicId
 * @param {Record<string, string>} options.urls the workspace config's URLs (lifecycle, action, home)
 * @param {() => void} options.onRunning the project just became running
 */
export function createLifecycle({ publicId, urls, onRunning }) {
  const stage = document.getElementById("lifecycle-stage");
  const workArea = document.getElementById("panels");
  const connectionNode = document.getElementById("connection-state");
  const lifecycle = {
    /** @type {string | null} */
    status: /** @type {string | null} */ (null),

    /** @param {string} status */
    setStatus(status) {
      const previous = lifecycle.status;
      lifecycle.status = status;
      document.body.dataset.projectStatus = status;
      const active = isActive(status);
      if (stage) { stage.hidden = active; }
      if (workArea) { workArea.hidden = !active; }
      document.querySelectorAll("[data-needs-running]").forEach((node) => {
        /** @type {HTMLElement} */ (node).hidden = !active;
      });
      if (status === "running" && previous !== "running") { onRunning(); }
      if (status === "destroyed") { window.location.href = urls.home; }
    },

    /** @param {import("../lib/status-badges.js").LifecyclePayload} payload */
    apply(payload) {
      if (payload.public_id && payload.public_id !== publicId) { return; }
      applyLifecycle(payload, publicId);
      const card = stage ? /** @type {HTMLElement | null} */ (stage.querySelector("#lifecycle")) : null;
      if (card && payload.total) {
        const bar = /** @type {HTMLElement | null} */ (card.querySelector(".progress > span"));
        const step = card.querySelector("[data-progress-step]");
        const meter = card.querySelector("[role=progressbar]");
        const done = payload.done || 0;
        if (bar) { bar.style.width = Math.round(100 * done / payload.total) + "%"; }
        if (step) { step.textContent = payload.step + " (" + payload.done + "/" + payload.total + ")"; }
        if (meter) { meter.setAttribute("aria-valuenow", String(payload.done)); meter.setAttribute("aria-valuemax", String(payload.total)); }
      }
      if (card && payload.status !== card.dataset.status) { refreshCards(); }
      lifecycle.setStatus(payload.status);
    },

    /**
     * Ask for a lifecycle action; the progress arrives on the socket.
     * @param {string} action wake, sleep, retry or rebootstrap
     */
    act(action) {
      return request("POST", urls.action.replace("ACTION", action)).then((data) => {
        toast(data.message, "info");
      }, (error) => { toast(error.message, "error"); });
    },

    /** @param {string} state */
    showConnection(state) {
      if (!connectionNode) { return; }
      const text = CONNECTION_TEXT[state] || [state, "idle"];
      connectionNode.textContent = text[0];
      connectionNode.className = "connection connection-" + text[1];
      connectionNode.dataset.state = state;
    },
  };

  /**
   * A lifecycle card that now shows another status moves the page on, badges included: the
   * socket may have missed the lifecycle messages (the page's socket can come up after a
   * quick bootstrap ended), and the card's own badge says the same as the server.
   * @param {HTMLElement | null} card
   */
  const followCard = (card) => {
    if (!card || !card.dataset.status || card.dataset.status === lifecycle.status) { return; }
    const badge = card.querySelector("[data-status-badge]");
    applyLifecycle({ status: card.dataset.status, status_label: badge ? badge.textContent || "" : "" }, publicId);
    lifecycle.setStatus(card.dataset.status);
  };

  function refreshCards() {
    document.querySelectorAll("section.lifecycle-card").forEach((card) => {
      fragment(card, urls.lifecycle, { swap: "outerHTML", quiet: true }).then((fresh) => {
        if (fresh) { followCard(document.getElementById("lifecycle")); }
      });
    });
  }

  // The htmx fallback (the lifecycle card polls itself while busy) also moves the page on.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const target = /** @type {HTMLElement | null} */ (event.target);
    followCard(target && target.id === "lifecycle" ? target : document.getElementById("lifecycle"));
  });

  // Lifecycle buttons act in place: the page stays, the progress arrives on the socket.
  // Without this script they are plain form posts.
  document.addEventListener("submit", (event) => {
    const form = /** @type {HTMLFormElement} */ (event.target);
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") { return; }
    const action = actionOf(form.getAttribute("action") || "", urls.action);
    if (!action) { return; }
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((button) => { button.disabled = true; });
    lifecycle.act(action).then(() => {
      buttons.forEach((button) => { button.disabled = false; });
    });
  });

  return lifecycle;
}

/**
 * The action a form posts to, read against the config's action URL (ACTION marks the name).
 * @param {string} formAction the form's action attribute
 * @param {string} template e.g. /p/<id>/actions/ACTION/
 * @returns {string | null}
 */
function actionOf(formAction, template) {
  const path = new URL(formAction, window.location.href).pathname;
  const [before, after] = template.split("ACTION");
  if (!path.startsWith(before) || !path.endsWith(after)) { return null; }
  const name = path.slice(before.length, path.length - after.length);
  return /^[a-z]+$/.test(name) ? name : null;
}
