// Small behaviours shared by every page: dismissable toasts, progress bars and the user menu.
(function () {
  "use strict";

  function fadeToasts() {
    document.querySelectorAll("#toasts .toast:not([data-timed])").forEach(function (toast) {
      toast.dataset.timed = "1";
      setTimeout(function () { toast.classList.add("toast-hide"); }, 6000);
      setTimeout(function () { toast.remove(); }, 6600);
    });
  }

  var TOAST_KINDS = { info: true, success: true, warning: true, error: true };

  // `kind` may come from an agent's notify event: only the known looks are applied.
  window.starterToast = function (text, kind) {
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (TOAST_KINDS[kind] ? kind : "info");
    toast.textContent = text;
    document.getElementById("toasts").appendChild(toast);
    fadeToasts();
  };

  // Bars carry their width as data-percent: the Content-Security-Policy refuses style="…".
  function sizeProgressBars(root) {
    var bars = Array.prototype.slice.call(root.querySelectorAll("[data-percent]"));
    if (root.matches && root.matches("[data-percent]")) { bars.push(root); }
    bars.forEach(function (bar) {
      var percent = Math.max(0, Math.min(100, Number(bar.dataset.percent) || 0));
      bar.style.width = percent + "%";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    fadeToasts();
    sizeProgressBars(document);
  });
  document.addEventListener("htmx:afterSwap", fadeToasts);
  document.addEventListener("htmx:load", function (event) { sizeProgressBars(event.detail.elt); });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
})();
