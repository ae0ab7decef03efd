// @ts-check
// The project sidebar as a drawer on a narrow screen: the top bar's button opens it over
// the panels; its Close button, Escape, the backdrop, opening a panel from it or tabbing out
// of it closes it. The focus moves to its first action when it opens, and back to the top
// bar's button when Close, Escape or the backdrop closes it. On a wide screen workspace.css shows the sidebar in place and the
// button is not shown, so this state does nothing there.

import { NARROW_QUERY } from "./panels/narrow.js";

/**
 * @param {{toggle: HTMLButtonElement, drawer: HTMLElement, backdrop: HTMLElement, container: HTMLElement}} parts
 */
export function createDrawer({ toggle, drawer, backdrop, container }) {
  const query = window.matchMedia(NARROW_QUERY);
  const isOpen = () => container.classList.contains("is-drawer-open");

  function open() {
    container.classList.add("is-drawer-open");
    toggle.setAttribute("aria-expanded", "true");
    backdrop.hidden = false;
    const first = /** @type {HTMLElement | null} */ (drawer.querySelector("button:not([hidden]):not([data-drawer-close]), a[href]"));
    (first || drawer).focus();
  }

  /** @param {boolean} returnFocus */
  function close(returnFocus) {
    if (!isOpen()) { return; }
    container.classList.remove("is-drawer-open");
    toggle.setAttribute("aria-expanded", "false");
    backdrop.hidden = true;
    if (returnFocus) { toggle.focus(); }
  }

  toggle.addEventListener("click", () => { if (isOpen()) { close(true); } else { open(); } });
  backdrop.addEventListener("click", () => { close(true); });
  drawer.querySelectorAll("[data-drawer-close]").forEach((button) => {
    button.addEventListener("click", () => { close(true); });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen()) { event.preventDefault(); close(true); }
  });
  // A panel opened from the drawer is what the person wants to see next.
  drawer.addEventListener("click", (event) => {
    if (/** @type {Element} */ (event.target).closest("[data-open]")) { close(false); }
  });
  drawer.addEventListener("focusout", (event) => {
    const next = /** @type {Node | null} */ (event.relatedTarget);
    if (next && !drawer.contains(next) && next !== toggle) { close(false); }
  });
  query.addEventListener("change", () => { if (!query.matches) { close(false); } });
  return { open, close };
}
