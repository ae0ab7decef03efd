// @ts-check
// The sidebar: the agent's inventory (services, integrations, assets) as a server fragment,
// and the `data-open` buttons anywhere on the page that open a panel.

import { fragment, request } from "../lib/http.js";
import { enhance } from "../lib/render.js";
import { toast } from "../lib/toast.js";

/**
 * @param {object} options
 * @param {string} options.url the inventory fragment
 * @param {string} options.serviceActionUrl a service's action, with NAME and ACTION
 * @param {() => boolean} options.isActive whether the project runs (a sleeping one has no inventory)
 * @param {(kind: string, props: object) => void} options.openPanel
 */
export function createSidebar({ url, serviceActionUrl, isActive, openPanel }) {
  const sidebar = document.getElementById("inventory");
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  document.addEventListener("click", (event) => {
    const control = /** @type {HTMLButtonElement | null} */ (/** @type {Element} */ (event.target).closest("[data-service-action]"));
    if (control) {
      event.preventDefault();
      serviceAction(control);
      return;
    }
    const opener = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest("[data-open]"));
    if (!opener) { return; }
    event.preventDefault();
    const data = opener.dataset;
    const kind = data.open || "";
    /** @type {object} */
    let props = {};
    if (kind === "asset") { props = { path: data.path, name: data.name }; }
    if (kind === "logs") { props = data.service ? { service: data.service } : { path: data.path }; }
    if (kind === "runs") { props = { service: data.service }; }
    if (kind === "preview") { props = data.port ? { port: Number(data.port) } : {}; }
    if (kind === "chat") { props = data.session ? { sessionId: data.session } : { fresh: true }; }
    if (kind === "details") { props = { title: data.name, fields: JSON.parse(data.fields || "[]") }; }
    openPanel(kind, props);
  });

  /**
   * Start, stop, restart or run a service; the sidebar follows its service_changed events.
   * @param {HTMLButtonElement} button
   */
  function serviceAction(button) {
    const name = button.dataset.service || "";
    const action = button.dataset.serviceAction || "";
    button.disabled = true;
    const target = serviceActionUrl.replace("NAME", encodeURIComponent(name)).replace("ACTION", encodeURIComponent(action));
    request("POST", target).then(() => { refresh(); }, (error) => {
      toast(error.message, "error");
      button.disabled = false;
    });
  }

  /** Reload the inventory; several calls in a row (the agent writing rows) become one. */
  function refresh() {
    if (!sidebar || !isActive()) { return; }
    clearTimeout(timer);
    timer = setTimeout(() => { fragment(sidebar, url, { prepare: enhance }); }, 150);
  }

  return {
    refresh,
  };
}
