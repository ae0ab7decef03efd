// @ts-check
// The logs panel: a service's (or a file's) log, refreshed while "follow" is ticked.

import { fragment, withQuery } from "../../lib/http.js";
import { enhance } from "../../lib/render.js";

/**
 * @param {HTMLElement} body the panel's body
 * @param {{path?: string, service?: string}} props which log (a path wins over a service)
 * @param {string} logsUrl the logs fragment's URL
 * @returns {{destroy: () => void}}
 */
export function mountLogs(body, props, logsUrl) {
  body.classList.add("panel-scroll");
  const url = () => withQuery(logsUrl, props.path ? { path: props.path } : { service: props.service });
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
    if (follow && follow.checked && document.visibilityState === "visible") { refresh(); }
  }, 2500);
  return { destroy() { clearInterval(timer); } };
}
