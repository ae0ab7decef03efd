// @ts-check
// The registry of panel kinds: what each kind is titled and how it mounts into a panel's
// body. panels/layout.js arranges panels; this file says what is inside them.

import { el } from "../../lib/dom.js";
import { fragment, withQuery } from "../../lib/http.js";
import { enhance } from "../../lib/render.js";
import { ChatView } from "../chat/view.js";
import { mountEditor, mountFiles } from "./files.js";
import { mountLogs } from "./logs.js";
import { mountTerminal } from "./terminal.js";

/**
 * What a mounted panel returns; `destroy` runs when the panel closes or changes kind.
 * @typedef {{destroy?: () => void, view?: any}} Mounted
 */

/**
 * What layout.js hands a kind's `mount`: the panel's own controls.
 * @typedef {object} PanelControl
 * @property {string} id
 * @property {(props: object) => void} setProps
 * @property {() => void} close
 * @property {(kind: string, props: object) => void} replace
 * @property {HTMLElement} header
 */

/**
 * @typedef {object} PanelKind
 * @property {(props: any) => string} title
 * @property {(body: HTMLElement, props: any, control: PanelControl) => Mounted} mount
 */

/**
 * A server fragment that scrolls within its panel.
 * @param {HTMLElement} body
 * @param {string} url
 * @returns {Mounted}
 */
function mountFragment(body, url) {
  body.classList.add("panel-scroll");
  fragment(body, url, { prepare: enhance });
  return {};
}

/**
 * @param {object} workspace the workspace (main.js): its config, chat views and panels
 * @param {any} workspace.config
 * @param {any[]} workspace.views the chat views on the page
 * @param {{mount: (body: HTMLElement, props: {port?: number}) => Mounted}} previews
 * @returns {Record<string, PanelKind>}
 */
export function createKinds(workspace, previews) {
  const urls = workspace.config.urls;
  return {
    chat: {
      title: () => "Chat",
      mount(body, props, control) {
        const view = new /** @type {any} */ (ChatView)(body, workspace, props.fresh ? null : props.sessionId);
        view.onBound = (/** @type {string} */ sessionId) => { control.setProps({ sessionId, fresh: false }); };
        workspace.views.push(view);
        if (props.fresh) { view.newSession(); }
        return {
          destroy() {
            view.destroy();
            workspace.views = workspace.views.filter((other) => other !== view);
          },
          view,
        };
      },
    },
    preview: {
      title: (props) => (props.port ? "Preview · :" + props.port : "App preview"),
      mount: (body, props) => previews.mount(body, props),
    },
    asset: {
      title: (props) => props.name || props.path || "File",
      mount: (body, props) => mountFragment(body, withQuery(urls.file_view, { path: props.path })),
    },
    logs: {
      title: (props) => "Logs · " + (props.service || props.name || props.path || ""),
      mount: (body, props) => mountLogs(body, props, urls),
    },
    terminal: {
      title: (props) => (props.terminalId ? "Terminal · " + String(props.terminalId).slice(0, 6) : "Terminal"),
      mount: (body, props, control) => mountTerminal(body, props, control, urls),
    },
    runs: {
      title: (props) => "Runs · " + (props.service || ""),
      mount(body, props) {
        const url = urls.service_runs.replace("NAME", encodeURIComponent(props.service));
        mountFragment(body, url);
        /** @param {Event} event a run of some job ended (main.js) */
        const ended = (event) => {
          if (/** @type {CustomEvent} */ (event).detail.service === props.service) { fragment(body, url, { prepare: enhance }); }
        };
        document.addEventListener("starter:service-run", ended);
        return { destroy() { document.removeEventListener("starter:service-run", ended); } };
      },
    },
    trace: {
      title: (props) => "Trace · …" + String(props.sessionId || "").slice(-6),
      mount: (body, props) => mountFragment(body, urls.trace.replace("SESSION", encodeURIComponent(props.sessionId))),
    },
    details: {
      title: (props) => props.title || "Details",
      mount(body, props) {
        body.classList.add("panel-scroll");
        const list = el("dl", "details-list");
        list.setAttribute("hx-disable", "");
        (props.fields || []).forEach((/** @type {[string, unknown]} */ field) => {
          if (field[1] == null || field[1] === "") { return; }
          list.append(el("dt", null, field[0]), el("dd", null, String(field[1])));
        });
        body.appendChild(list);
        return {};
      },
    },
    files: {
      title: () => "Files",
      mount: (body, props) => mountFiles(body, props, { urls, openPanel: /** @type {any} */ (workspace).openPanel }),
    },
    editor: {
      title: (props) => "Edit · " + (props.name || props.path || ""),
      mount: (body, props) => mountEditor(body, props, { urls }),
    },
    manage: {
      title: () => "Project settings",
      mount: (body) => mountFragment(body, urls.manage),
    },
    launcher: {
      title: () => "Open…",
      mount: (body, props, control) => mountLauncher(body, control),
    },
  };
}

/**
 * An empty panel offering what it can become.
 * @param {HTMLElement} body
 * @param {PanelControl} control
 * @returns {Mounted}
 */
function mountLauncher(body, control) {
  const box = el("div", "launcher");
  box.appendChild(el("h3", null, "Open in this panel"));
  const grid = el("div", "launcher-grid");
  /** @type {Array<[string, string, object]>} */
  const choices = [["New chat", "chat", { fresh: true }], ["Current chat", "chat", {}],
    ["App preview", "preview", {}], ["Files", "files", {}], ["New terminal", "terminal", {}],
    ["Project settings", "manage", {}]];
  choices.forEach(([label, kind, props]) => {
    const button = el("button", "launcher-item", label);
    button.type = "button";
    button.addEventListener("click", () => { control.replace(kind, props); });
    grid.appendChild(button);
  });
  box.appendChild(grid);
  box.appendChild(el("p", "muted small", "Or pick a service, integration or asset in the sidebar."));
  body.appendChild(box);
  return {};
}
