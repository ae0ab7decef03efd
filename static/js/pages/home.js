// The home screen's live status badges: lifecycle messages from /ws/home/, and while that
// socket is down, the project list refreshes itself with htmx every few seconds instead.
(function () {
  "use strict";

  var list = document.getElementById("project-list");
  if (!list || !window.StarterLiveSocket) { return; }
  var pollTimer = null;

  function applyLifecycle(payload) {
    var badges = document.querySelectorAll("[data-status-badge='" + payload.public_id + "']");
    if (!badges.length) { refreshList(); return; }  // a project this page does not show yet
    badges.forEach(function (badge) {
      badge.className = "badge badge-" + payload.status;
      badge.textContent = payload.status_label || payload.status;
    });
    var progress = document.querySelector("[data-card-progress='" + payload.public_id + "']");
    if (progress) {
      progress.hidden = !payload.total || payload.status === "running";
      var bar = progress.querySelector("span");
      if (bar && payload.total) { bar.style.width = Math.round(100 * payload.done / payload.total) + "%"; }
    }
    if (payload.status === "destroyed") { refreshList(); }
  }

  function refreshList() {
    if (window.htmx) {
      window.htmx.ajax("GET", "/", { target: "#project-list", swap: "innerHTML", headers: { "HX-Target": "project-list" } });
    }
  }

  function setPolling(on) {
    if (on && !pollTimer) { pollTimer = setInterval(refreshList, 5000); }
    if (!on && pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  var socket = new window.StarterLiveSocket("/ws/home/", {
    onMessage: function (message) {
      if (message.kind === "lifecycle" && message.payload) { applyLifecycle(message.payload); }
    },
    onState: function (state) {
      setPolling(state !== "open");
      // A change between rendering the page and joining the updates would otherwise be lost.
      if (state === "open") { refreshList(); }
    },
  });
  document.addEventListener("DOMContentLoaded", function () { socket.open(); });
  window.starterHome = { socket: socket };
})();

// "New project" (palette, empty state) lands on the form with the name field focused.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var field = document.getElementById("id_name");
  if (!field) { return; }
  if (new URLSearchParams(window.location.search).get("new") || document.querySelector("#new-project .errorlist")) {
    field.focus();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-focus-new-project]")) { event.preventDefault(); field.focus(); }
  });
});
