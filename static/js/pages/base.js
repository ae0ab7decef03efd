// @ts-check
// Small behaviours shared by every page: dismissable toasts, progress bars and the user menu.

import { fadeToasts } from "../lib/toast.js";

/**
 * Bars carry their width as data-percent: the Content-Security-Policy refuses style="…".
 * @param {Element | Document} root
 */
function sizeProgressBars(root) {
  const bars = Array.from(root.querySelectorAll("[data-percent]"));
  if (root instanceof Element && root.matches("[data-percent]")) { bars.push(root); }
  bars.forEach((node) => {
    const bar = /** @type {HTMLElement} */ (node);
    const percent = Math.max(0, Math.min(100, Number(bar.dataset.percent) || 0));
    bar.style.width = percent + "%";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  fadeToasts();
  sizeProgressBars(document);
});
document.addEventListener("htmx:afterSwap", fadeToasts);
document.addEventListener("htmx:load", (event) => {
  sizeProgressBars(/** @type {CustomEvent} */ (event).detail.elt);
});
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.user-menu[open]").forEach((menu) => {
    if (!menu.contains(/** @type {Node} */ (event.target))) { menu.removeAttribute("open"); }
  });
});

// The theme toggle in the account menu: js/theme.js stores and applies the choice.
function showThemeChoice() {
  const choice = document.documentElement.dataset.themeChoice || "system";
  document.querySelectorAll("[data-theme-option]").forEach((option) => {
    option.setAttribute("aria-checked", String(option.getAttribute("data-theme-option") === choice));
  });
}
document.addEventListener("DOMContentLoaded", showThemeChoice);
document.addEventListener("starter:theme", showThemeChoice);
document.addEventListener("click", (event) => {
  const option = /** @type {Element} */ (event.target).closest("[data-theme-option]");
  if (!option) { return; }
  document.dispatchEvent(new CustomEvent("starter:theme-choice", { detail: option.getAttribute("data-theme-option") }));
  showThemeChoice();
});
