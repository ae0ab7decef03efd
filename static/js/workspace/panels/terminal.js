// @ts-check
// The terminal panel: a shell in the Sprite (a PTY run by the bridge, bridge_agent/terminals.py)
// drawn by xterm.js, over the control plane's terminal socket (projects/relay/terminal.py),
// never straight to the Sprite.
//
// The panel remembers its terminal's id in its props, so a reload reattaches to the same
// shell: the socket first sends the shell's recent output, then live output. A socket that
// drops reconnects by itself; a shell that ended says so and offers a new one. Closing the
// panel ends its shell. Output is untrusted bytes: only ever written into xterm, which
// draws text and never interprets it as HTML.

import { el } from "../../lib/dom.js";
import { HttpError, request } from "../../lib/http.js";

// Keystrokes and pastes go out in frames the bridge takes (at most 64 KiB of UTF-8 each).
const INPUT_CHUNK_CHARS = 16384;
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 5000];
// How often the panel tells the relay how much output it has drawn (flow control).
const ACK_EVERY_BYTES = 64 * 1024;
// Close codes of the terminal socket (projects/relay/terminal.py).
const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_NOT_FOUND = 4404;
const CLOSE_NOT_RUNNING = 4409;

/** @type {Promise<{Terminal: any, FitAddon: any}> | null} */
let xtermLoaded = null;

/**
 * Load xterm.js and its fit addon once per page (only when a terminal is first opened).
 * @param {Record<string, string>} urls
 */
function loadXterm(urls) {
  if (!xtermLoaded) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = urls.xterm_css;
    document.head.appendChild(link);
    xtermLoaded = Promise.all([import(urls.xterm), import(urls.xterm_fit)]).then(
      ([core, fit]) => ({ Terminal: core.Terminal, FitAddon: fit.FitAddon }));
  }
  return xtermLoaded;
}

/**
 * The page's CSP allows no inline styles (starter/security_headers.py), and xterm's DOM
 * renderer writes its cell sizes and colours as `<style>` elements and, for true-colour
 * cells, `style` attributes: the browser ignores both. This copies each into what the
 * policy does allow: a constructed stylesheet adopted by the document, and the element's
 * CSSOM style (as xterm's own `element.style.x = …` already does). Only the terminal's own
 * subtree is watched, and text written there comes from xterm, never from the Sprite.
 * @param {HTMLElement} root
 * @returns {() => void} stops watching and drops the stylesheets
 */
function applyXtermStyles(root) {
  /** @type {Map<HTMLStyleElement, CSSStyleSheet>} */
  const sheets = new Map();
  const sync = () => {
    root.querySelectorAll("style").forEach((element) => {
      let sheet = sheets.get(element);
      if (!sheet) {
        sheet = new CSSStyleSheet();
        sheets.set(element, sheet);
        document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
      }
      sheet.replaceSync(element.textContent || "");
    });
    sheets.forEach((sheet, element) => {
      if (!element.isConnected && !root.contains(element)) {
        sheets.delete(element);
        document.adoptedStyleSheets = document.adoptedStyleSheets.filter((other) => other !== sheet);
      }
    });
  };
  /** @param {Element} element */
  const restyle = (element) => {
    const wanted = element.getAttribute("style");
    const html = /** @type {HTMLElement} */ (element);
    if (wanted && html.style && html.style.cssText !== wanted) { html.style.cssText = wanted; }
  };
  const observer = new MutationObserver((records) => {
    let styles = false;
    records.forEach((record) => {
      const target = /** @type {Element} */ (record.target);
      if (record.type === "attributes") { restyle(target); return; }
      if (target.nodeName === "STYLE" || (target.parentNode && target.parentNode.nodeName === "STYLE")) { styles = true; }
      record.addedNodes.forEach((node) => {
        if (node.nodeName === "STYLE") { styles = true; return; }
        if (node instanceof Element) {
          if (node.hasAttribute("style")) { restyle(node); }
          node.querySelectorAll("[style]").forEach(restyle);
        }
      });
      if (record.removedNodes.length) { styles = true; }
    });
    if (styles) { sync(); }
  });
  observer.observe(root, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["style"] });
  sync();
  return () => {
    observer.disconnect();
    const gone = new Set(sheets.values());
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((sheet) => !gone.has(sheet));
    sheets.clear();
  };
}

/**
 * @param {HTMLElement} body the panel's body
 * @param {{terminalId?: string}} props the terminal this panel shows (none yet: create one)
 * @param {{setProps: (props: object) => void}} control
 * @param {Record<string, string>} urls the control plane's URLs (workspace config)
 * @returns {{destroy: () => void}}
 */
export function mountTerminal(body, props, control, urls) {
  body.classList.add("terminal-body");
  const state = el("p", "terminal-state muted small", "Starting a shell…");
  state.setAttribute("role", "status");
  const screen = el("div", "terminal-screen");
  body.append(state, screen);

  let terminalId = props.terminalId || "";
  let destroyed = false;
  /** @type {WebSocket | null} */
  let socket = null;
  let failures = 0;
  /** @type {any} */
  let term = null;
  /** @type {any} */
  let fit = null;
  /** @type {ResizeObserver | null} */
  let resizeObserver = null;
  /** @type {(() => void) | null} */
  let stopStyles = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let retryTimer = null;
  const encoder = new TextEncoder();
  // What was typed while the socket was (re)connecting: sent once it opens, bounded.
  /** @type {string[]} */
  let pending = [];
  let pendingChars = 0;

  /** @param {string} data */
  function sendInput(data) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      if (pendingChars + data.length <= INPUT_CHUNK_CHARS) { pending.push(data); pendingChars += data.length; }
      return;
    }
    for (let start = 0; start < data.length; start += INPUT_CHUNK_CHARS) {
      socket.send(encoder.encode(data.slice(start, start + INPUT_CHUNK_CHARS)));
    }
  }

  /** @param {string} text @param {boolean} [offerNew] */
  function say(text, offerNew) {
    state.textContent = text;
    state.hidden = !text;
    if (offerNew) {
      const again = el("button", "button button-small", "New terminal");
      again.type = "button";
      again.addEventListener("click", () => { terminalId = ""; start(); });
      state.append(" ", again);
    }
  }

  function sendResize() {
    if (socket && socket.readyState === WebSocket.OPEN && term) {
      socket.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
    }
  }

  function refit() {
    if (!fit || !screen.isConnected || screen.clientWidth === 0) { return; }
    try { fit.fit(); } catch (error) { /* not measurable yet: the next resize fits */ }
  }

  async function create() {
    try {
      const answer = await request("POST", urls.terminals, { cols: term.cols, rows: term.rows });
      terminalId = answer.terminal.id;
      control.setProps({ terminalId });
      return true;
    } catch (error) {
      say(error instanceof HttpError ? error.message : "The terminal could not start.", true);
      return false;
    }
  }

  function connect() {
    if (destroyed) { return; }
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const path = urls.terminal_socket.replace("TERMINAL", encodeURIComponent(terminalId));
    const ws = new WebSocket(scheme + "//" + window.location.host + path);
    ws.binaryType = "arraybuffer";
    socket = ws;
    let exited = false;
    // Output bytes drawn, and the total last acknowledged (each socket counts from zero).
    let taken = 0;
    let acked = 0;
    ws.addEventListener("open", () => {
      // The socket starts with the shell's recent output: draw it on a clean screen.
      term.reset();
      failures = 0;
      say("");
      sendResize();
      const typed = pending.join("");
      pending = [];
      pendingChars = 0;
      if (typed) { sendInput(typed); }
    });
    ws.addEventListener("message", (event) => {
      if (typeof event.data === "string") {
        let message = null;
        try { message = JSON.parse(event.data); } catch (error) { return; }
        if (message && message.type === "exit") {
          exited = true;
          const code = typeof message.code === "number" ? " (exit code " + message.code + ")" : "";
          say("The shell ended" + code + ".", true);
        }
        return;
      }
      const chunk = new Uint8Array(event.data);
      // Acknowledged once xterm has drawn it: the relay sends at most 1 MiB ahead of that.
      term.write(chunk, () => {
        taken += chunk.length;
        if (taken - acked >= ACK_EVERY_BYTES && ws.readyState === WebSocket.OPEN) {
          acked = taken;
          ws.send(JSON.stringify({ type: "ack", bytes: taken }));
        }
      });
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws || destroyed) { return; }
      socket = null;
      if (exited) { return; }
      if (event.code === CLOSE_NOT_FOUND) { say("This terminal's shell is gone.", true); return; }
      if (event.code === CLOSE_UNAUTHENTICATED) { window.location.reload(); return; }
      const delay = RECONNECT_DELAYS_MS[Math.min(failures, RECONNECT_DELAYS_MS.length - 1)];
      failures += 1;
      say(event.code === CLOSE_NOT_RUNNING ? "The project is not running; reconnecting when it is…" : "Reconnecting…");
      retryTimer = setTimeout(connect, delay);
    });
  }

  async function start() {
    say(terminalId ? "Connecting…" : "Starting a shell…");
    if (!terminalId && !(await create())) { return; }
    if (!destroyed) { connect(); }
  }

  function followTheme() { if (term) { term.options.theme = terminalTheme(); } }

  loadXterm(urls).then(({ Terminal, FitAddon }) => {
    if (destroyed) { return; }
    stopStyles = applyXtermStyles(screen);
    term = new Terminal({
      cursorBlink: true,
      fontFamily: getComputedStyle(document.body).getPropertyValue("--mono") || "monospace",
      fontSize: 13,
      scrollback: 5000,
      theme: terminalTheme(),
    });
    fit = new FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    document.addEventListener("starter:theme", followTheme);
    if (term.textarea) { term.textarea.setAttribute("aria-label", "Terminal input"); }
    refit();
    term.onData(sendInput);
    term.onResize(sendResize);
    resizeObserver = new ResizeObserver(refit);
    resizeObserver.observe(screen);
    start();
  }, () => { say("The terminal could not load; reload the page."); });

  return {
    destroy() {
      destroyed = true;
      if (retryTimer) { clearTimeout(retryTimer); }
      if (resizeObserver) { resizeObserver.disconnect(); }
      if (socket) { socket.close(); socket = null; }
      if (term) { term.dispose(); }
      document.removeEventListener("starter:theme", followTheme);
      if (stopStyles) { stopStyles(); }
      // Closing the panel ends its shell (a reload does not come through here).
      if (terminalId) {
        request("POST", urls.terminal_close.replace("TERMINAL", encodeURIComponent(terminalId))).catch(() => {});
      }
    },
  };
}

/** The terminal's colours, from the page's theme (--terminal-* in app.css). */
function terminalTheme() {
  const style = getComputedStyle(document.documentElement);
  return {
    background: style.getPropertyValue("--terminal-bg").trim() || "#111827",
    foreground: style.getPropertyValue("--terminal-fg").trim() || "#e5e7eb",
  };
}
