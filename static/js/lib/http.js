// @ts-check
// The one way the dashboard's scripts talk to the control plane over HTTP.
//
// JSON: `request()` / `json()` resolve with the parsed body and reject with an HttpError
// whose message is written for people (the server's `{error, message}` shape, or ours).
// HTML: `fragment()` fetches a partial, swaps it in and lets htmx process it.
// A 401 means the session ended: the page reloads (and lands on the login page).

const UNREACHABLE = "The dashboard cannot be reached; check your connection.";

/** An answer that was not 2xx, or no answer at all (`status` 0). */
export class HttpError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   * @param {string} [code] the server's `error` code, when it sent one
   */
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The CSRF token Django put on <body hx-headers> (htmx sends it the same way). */
export function csrfToken() {
  try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
  catch (error) { return ""; }
}

/**
 * `url` with the parameters that are not null added as a query string.
 * @param {string} url
 * @param {Record<string, string | number | null | undefined>} [params]
 */
export function withQuery(url, params) {
  const query = Object.entries(params || {}).filter(([, value]) => value != null)
    .map(([key, value]) => encodeURIComponent(key) + "=" + encodeURIComponent(String(value)));
  return query.length ? url + "?" + query.join("&") : url;
}

/** @param {Response} response */
function endedSession(response) {
  if (response.status === 401) { window.location.reload(); }
}

/**
 * A JSON request; `body` (when given) is sent as JSON.
 * @param {string} method
 * @param {string} url
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function request(method, url, body) {
  /** @type {Record<string, string>} */
  const headers = { "Accept": "application/json", "X-CSRFToken": csrfToken() };
  /** @type {RequestInit} */
  const options = { method, credentials: "same-origin", headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  let text;
  try {
    response = await fetch(url, options);
    text = await response.text();
  } catch (error) {
    throw new HttpError(UNREACHABLE, 0);
  }
  endedSession(response);
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch (error) { data = null; }
  if (!response.ok) {
    const message = data && data.message ? data.message
      : "The request failed (" + response.status + "). Try again in a moment.";
    throw new HttpError(message, response.status, data ? data.error : undefined);
  }
  return data || {};
}

/**
 * GET JSON.
 * @param {string} url
 * @param {Record<string, string | number | null | undefined>} [params]
 */
export function json(url, params) {
  return request("GET", withQuery(url, params));
}

/**
 * @typedef {object} FragmentOptions
 * @property {"innerHTML" | "outerHTML"} [swap] replace the target's content (default) or the target
 * @property {(root: Element) => void} [prepare] finish the new content before htmx sees it
 * @property {boolean} [quiet] on failure leave the target as it is (default: innerHTML
 *   swaps show the server's error fragment, or a message when the server is unreachable)
 */

/**
 * Load an HTML partial into `target`, as htmx would: the request says `HX-Request` and
 * `HX-Target`, the new content is processed by htmx and gets an `htmx:load` event (so
 * page behaviours that set up new content, like progress bars, see it).
 * @param {Element} target
 * @param {string} url
 * @param {FragmentOptions} [options]
 * @returns {Promise<Element | null>} the element now holding the content (null: not swapped)
 */
export async function fragment(target, url, options = {}) {
  const outer = options.swap === "outerHTML";
  /** @type {Record<string, string>} */
  const headers = { "HX-Request": "true" };
  if (target.id) { headers["HX-Target"] = target.id; }
  target.setAttribute("aria-busy", "true");
  try {
    let response;
    let html;
    try {
      response = await fetch(url, { credentials: "same-origin", headers });
      html = await response.text();
    } catch (error) {
      if (!options.quiet && !outer) {
        target.innerHTML = "";
        target.appendChild(errorMessage(UNREACHABLE));
      }
      return null;
    }
    endedSession(response);
    if (!response.ok && (options.quiet || outer)) { return null; }
    let root = target;
    if (outer) {
      const holder = document.createElement("template");
      holder.innerHTML = html.trim();
      const replacement = holder.content.firstElementChild;
      if (!replacement) { return null; }
      target.replaceWith(replacement);
      root = replacement;
    } else {
      target.innerHTML = html;
    }
    if (options.prepare) { options.prepare(root); }
    const htmx = /** @type {any} */ (window).htmx;
    if (htmx) {
      htmx.process(root);
      (outer ? [root] : Array.from(root.children)).forEach((node) => { htmx.trigger(node, "htmx:load"); });
    }
    return root;
  } finally {
    target.removeAttribute("aria-busy");
  }
}

/** @param {string} text */
function errorMessage(text) {
  const node = document.createElement("div");
  node.className = "panel-message panel-message-error";
  node.textContent = text;
  return node;
}
