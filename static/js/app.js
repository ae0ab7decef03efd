// Small behaviours shared by every page: dismissable toasts and the user menu.
(function () {
  "use strict";

  function fadeToasts() {
    document.querySelectorAll("#toasts .toast:not([data-timed])").forEach(function (toast) {
      toast.dataset.timed = "1";
      setTimeout(function () { toast.classList.add("toast-hide"); }, 6000);
      setTimeout(function () { toast.remove(); }, 6600);
    });
  }

  window.starterToast = function (text, kind) {
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (kind || "info");
    toast.textContent = text;
    document.getElementById("toasts").appendChild(toast);
    fadeToasts();
  };

  document.addEventListener("DOMContentLoaded", fadeToasts);
  document.addEventListener("htmx:afterSwap", fadeToasts);
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
})();
