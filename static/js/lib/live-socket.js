// @ts-check
// A websocket to the control plane that comes back by itself.
//
// On every (re)connect it subscribes with the cursor the page holds, so the server replays
// exactly the events the page has not seen. Close codes 4401/4404 are final: the person is
// logged out or the project is not theirs, and retrying cannot help.

/** @type {Record<number, string>} */
const FINAL_CODES = { 4401: "logged_out", 4403: "forbidden", 4404: "not_found" };

/** @param {string} path */
function socketUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return scheme + "//" + window.location.host + path;
}

/**
 * @typedef {object} LiveSocketOptions
 * @property {(message: any) => void} onMessage every JSON frame the server sends
 * @property {(state: string) => void} [onState] connecting, open, closed, or a final state
 *   (logged_out, forbidden, not_found)
 * @property {(() => number | null) | null} [cursor] the last event id the page holds; with
 *   it, every (re)connect subscribes from there
 */

export class LiveSocket {
  /**
   * @param {string} path the websocket's path on this host (from the server's config)
   * @param {LiveSocketOptions} options
   */
  constructor(path, options) {
    this.path = path;
    this.onMessage = options.onMessage;
    this.onState = options.onState || function () {};
    this.cursor = options.cursor || null;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.attempt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.stopped = false;
    window.addEventListener("online", () => { this.reconnectNow(); });
  }

  open() {
    if (this.stopped || this.socket) { return; }
    let socket;
    try {
      socket = new WebSocket(socketUrl(this.path));
    } catch (error) {
      this.schedule();
      return;
    }
    this.socket = socket;
    this.onState("connecting");
    socket.onopen = () => {
      this.attempt = 0;
      if (this.cursor) {
        socket.send(JSON.stringify({ type: "subscribe", after: this.cursor() }));
      }
      this.onState("open");
    };
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      this.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) { return; }
      this.socket = null;
      if (FINAL_CODES[event.code]) {
        this.stopped = true;
        this.onState(FINAL_CODES[event.code]);
        return;
      }
      this.onState("closed");
      this.schedule();
    };
  }

  schedule() {
    if (this.stopped) { return; }
    const delay = Math.min(8000, 250 * Math.pow(2, this.attempt));
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.open(); }, delay);
  }

  /** Drop the current connection (if any) and subscribe again from the current cursor. */
  reconnectNow() {
    if (this.stopped) { return; }
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) { socket.onclose = null; socket.close(); }
    this.open();
  }

  isOpen() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }
}
