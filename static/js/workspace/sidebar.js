// @ts-check
// The sidebar: the agent's inventory (services, integrations, assets) as a server fragment,
// and the `data-open` buttons anywhere on the page that open a panel.

import { fragment } from "../lib/http.js";
import { enhance } from "../lib/render.js";

/**
 * @param {object} options
 * @param {string} options.url the inventory fragment
 * @param {() => boolean} options.isActive whether the project runs (a sleeping one has no inventory)
 * @param {(kind: string, props: object) => void} options.openPanel
 */
export function createSidebar({ url, isActive, openPanel }) {
  const sidebar = document.getElementById("inventory");
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  document.addEventListener("click", (event) => {
    const opener = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest("[data-open]"));
    if (!opener) { return; }
    event.preventDefault();
    const data = opener.dataset;
    const kind = data.open || "";
    /** @type {object} */
    let props = {};
    if (kind === "asset") { props = { path: data.path, name: data.name }; }
    if (kind === "logs") { props = { service: data.service, name: data.name }; }
    if (kind === "chat") { props = data.session ? { sessionId: data.session } : { fresh: true }; }
    if (kind === "details") { props = { title: data.name, fields: JSON.parse(data.fields || "[]") }; }
    openPanel(kind, props);
  });

  return {
    /** Reload the inventory; several calls in a row (the agent writing rows) become one. */
    refresh() {
      if (!sidebar || !isActive()) { return; }
      clearTimeout(timer);
      timer = setTimeout(() => { fragment(sidebar, url, { prepare: enhance }); }, 150);
    },
  };
}
