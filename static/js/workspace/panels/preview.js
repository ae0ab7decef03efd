// @ts-check
// The app preview panel: the app the agent built, framed from its own preview origin
// through a fresh signed link (projects/preview/links.py). A panel with a `port` shows that
// port's own preview origin (a service's); without one, the project's app port.

import { el } from "../../lib/dom.js";

/**
 * The preview panels of the page, which reload together when the app changes.
 * @param {(port: number | null) => Promise<{url: string}>} fetchLink a new signed link to the
 *   preview (of that port, or the app port)
 */
export function createPreviews(fetchLink) {
  /** @type {Set<{reload: () => Promise<void>}>} */
  const open = new Set();

  /**
   * Build a preview into a panel's body.
   * @param {HTMLElement} body
   * @param {{port?: number}} [props]
   */
  function mount(body, props) {
    const port = props && props.port ? Number(props.port) : null;
    const bar = el("div", "panel-toolbar");
    const reloadButton = el("button", "button button-small", "Reload");
    reloadButton.type = "button";
    const tab = el("a", "button button-small button-ghost", "Open in new tab");
    tab.target = "_blank";
    tab.rel = "noopener";
    const note = el("span", "muted small", "");
    bar.append(reloadButton, tab, el("span", "spacer"), note);
    const frame = el("iframe", "preview-frame");
    frame.title = port ? "The app on port " + port : "The app the agent built";
    frame.setAttribute("sandbox", "allow-scripts allow-forms allow-same-origin allow-popups allow-modals allow-downloads");
    const message = el("div", "panel-message");
    message.hidden = true;
    body.append(bar, message, frame);
    const preview = {
      reload() {
        note.textContent = "Loading…";
        return fetchLink(port).then((data) => {
          message.hidden = true;
          frame.hidden = false;
          frame.src = data.url;
          tab.href = data.url;
          note.textContent = "";
        }, (error) => {
          frame.hidden = true;
          message.hidden = false;
          message.textContent = error.message;
          note.textContent = "";
        });
      },
      destroy() { open.delete(preview); },
    };
    reloadButton.addEventListener("click", () => { preview.reload(); });
    open.add(preview);
    preview.reload();
    return preview;
  }

  return {
    mount,
    /** The app changed (new port, the agent asked): every preview loads it again. */
    reloadAll() { open.forEach((preview) => { preview.reload(); }); },
  };
}
