// @ts-check
// The logs panel: a service's log streamed live from the control plane (Server-Sent Events
// of its supervisor's log, projects/dashboard/services.py), or a log file by its path.
// Every line is untrusted text from the Sprite: it is only ever set as textContent.

import { el } from "../../lib/dom.js";
import { fragment, withQuery } from "../../lib/http.js";
import { enhance } from "../../lib/render.js";

// The panel keeps the newest lines only: a chatty service must not grow the page forever.
const MAX_LINES = 2000;
const TAIL_LINES = 200;

/**
 * @param {HTMLElement} body the panel's body
 * @param {{path?: string, service?: string}} props which log (a service wins over a path)
 * @param {{logs: string, service_log_stream: string}} urls the control plane's URLs
 * @returns {{destroy: () => void}}
 */
export function mountLogs(body, props, urls) {
  if (props.service) { return mountServiceLog(body, props.service, urls.service_log_stream); }
  return mountFileLog(body, props, urls.logs);
}

/**
 * @param {HTMLElement} body
 * @param {string} service
 * @param {string} streamUrl with NAME for the service's name
 */
function mountServiceLog(body, service, streamUrl) {
  body.classList.add("panel-scroll");
  const bar = el("div", "panel-toolbar");
  const state = el("span", "muted small log-state", "Connecting…");
  state.setAttribute("role", "status");
  const followLabel = el("label", "follow");
  const follow = el("input");
  follow.type = "checkbox";
  follow.name = "follow";
  follow.checked = true;
  followLabel.append(follow, " Follow");
  const clear = el("button", "button button-small button-ghost", "Clear");
  clear.type = "button";
  bar.append(state, el("span", "spacer"), followLabel, clear);
  const output = el("pre", "log-output service-log");
  output.setAttribute("aria-label", "Log of " + service);
  output.tabIndex = 0;
  body.append(bar, output);

  /** @param {string} line */
  function append(line) {
    output.append(document.createTextNode(line + "\n"));
    while (output.childNodes.length > MAX_LINES && output.firstChild) { output.removeChild(output.firstChild); }
    if (follow.checked) { output.scrollTop = output.scrollHeight; }
  }

  const url = withQuery(streamUrl.replace("NAME", encodeURIComponent(service)), { lines: TAIL_LINES });
  const source = new EventSource(url);
  // Each stream starts with the log's last lines: a reconnect starts the view over.
  source.addEventListener("open", () => { output.textContent = ""; state.textContent = "Live"; });
  source.addEventListener("log", (event) => {
    let line = "";
    try { line = String(JSON.parse(/** @type {MessageEvent} */ (event).data).line ?? ""); }
    catch (error) { return; }
    append(line);
  });
  source.addEventListener("failure", (event) => {
    let message = "The log cannot be followed.";
    try { message = String(JSON.parse(/** @type {MessageEvent} */ (event).data).message || message); }
    catch (error) { /* keep the default */ }
    state.textContent = message;
    source.close();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) { state.textContent = "Stopped"; }
    else { state.textContent = "Reconnecting…"; }
  });
  clear.addEventListener("click", () => { output.textContent = ""; });
  return { destroy() { source.close(); } };
}

/**
 * A log file by its path, refreshed while "follow" is ticked.
 * @param {HTMLElement} body
 * @param {{path?: string}} props
 * @param {string} logsUrl the log file fragment's URL
 */
function mountFileLog(body, props, logsUrl) {
  body.classList.add("panel-scroll");
  const url = () => withQuery(logsUrl, { path: props.path || "" });
  /** @returns {HTMLInputElement | null} */
  const followBox = () => body.querySelector("input[name=follow]");
  const refresh = () => {
    const follow = followBox();
    const keepFollowing = !follow || follow.checked;
    return fragment(body, url(), { prepare: enhance }).then(() => {
      const box = followBox();
      if (box) { box.checked = keepFollowing; }
      const pre = body.querySelector(".log-output");
      if (pre && keepFollowing) { pre.scrollTop = pre.scrollHeight; }
    });
  };
  body.addEventListener("submit", (event) => {
    const form = /** @type {HTMLFormElement} */ (event.target);
    if (!form.matches(".log-path-form")) { return; }
    event.preventDefault();
    const field = /** @type {HTMLInputElement} */ (form.querySelector("input[name=path]"));
    const value = field.value.trim();
    if (value) { props.path = value; refresh(); }
  });
  refresh();
  const timer = setInterval(() => {
    const follow = followBox();
    if (props.path && follow && follow.checked && document.visibilityState === "visible") { refresh(); }
  }, 2500);
  return { destroy() { clearInterval(timer); } };
}
