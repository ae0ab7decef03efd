// A websocket to the control plane that comes back by itself.
//
// On every (re)connect it subscribes with the cursor the page holds, so the server replays
// exactly the events the page has not seen. Close codes 4401/4404 are final: the person is
// logged out or the project is not theirs, and retrying cannot help.
(function () {
  "use strict";

  var FINAL_CODES = { 4401: "logged_out", 4403: "forbidden", 4404: "not_found" };

  function socketUrl(path) {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + path;
  }

  function LiveSocket(path, options) {
    this.path = path;
    this.onMessage = options.onMessage;
    this.onState = options.onState || function () {};
    this.cursor = options.cursor || null;  // a function returning the last event id, or null
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    var self = this;
    window.addEventListener("online", function () { self.reconnectNow(); });
  }

  LiveSocket.prototype.open = function () {
    if (this.stopped || this.socket) { return; }
    var self = this;
    var socket;
    try {
      socket = new WebSocket(socketUrl(this.path));
    } catch (error) {
      this.schedule();
      return;
    }
    this.socket = socket;
    this.onState("connecting");
    socket.onopen = function () {
      self.attempt = 0;
      if (self.cursor) {
        socket.send(JSON.stringify({ type: "subscribe", after: self.cursor() }));
      }
      self.onState("open");
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      self.onMessage(message);
    };
    socket.onclose = function (event) {
      if (self.socket !== socket) { return; }
      self.socket = null;
      if (FINAL_CODES[event.code]) {
        self.stopped = true;
        self.onState(FINAL_CODES[event.code]);
        return;
      }
      self.onState("closed");
      self.schedule();
    };
  };

  LiveSocket.prototype.schedule = function () {
    if (this.stopped) { return; }
    var self = this;
    var delay = Math.min(8000, 250 * Math.pow(2, this.attempt));
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.open(); }, delay);
  };

  // Drop the current connection (if any) and subscribe again from the current cursor.
  LiveSocket.prototype.reconnectNow = function () {
    if (this.stopped) { return; }
    clearTimeout(this.timer);
    var socket = this.socket;
    this.socket = null;
    if (socket) { socket.onclose = null; socket.close(); }
    this.open();
  };

  LiveSocket.prototype.isOpen = function () {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  };

  window.StarterLiveSocket = LiveSocket;
})();
