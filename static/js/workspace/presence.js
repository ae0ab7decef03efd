// @ts-check
// "Also here": who else has this project open (shared projects, issue 19). The project
// socket sends {"kind": "presence", "watchers": [e-mail, ...]} whenever someone comes or
// goes (projects/relay/watchers.py); events.js hands it on as a "starter:presence" event.

import { el } from "../lib/dom.js";

export function showPresence() {
  const box = /** @type {HTMLElement | null} */ (document.querySelector("[data-presence]"));
  if (!box) { return; }
  const me = box.dataset.me || "";
  document.addEventListener("starter:presence", (event) => {
    const detail = /** @type {CustomEvent<unknown>} */ (event).detail;
    const watchers = Array.isArray(detail) ? detail.filter((name) => typeof name === "string") : [];
    const others = watchers.filter((name) => name !== me);
    box.replaceChildren();
    others.slice(0, 5).forEach((name) => {
      const avatar = el("span", "avatar", (name[0] || "?").toUpperCase());
      avatar.title = name;
      avatar.dataset.watcher = name;
      box.appendChild(avatar);
    });
    if (others.length > 5) { box.appendChild(el("span", "muted small", "+" + (others.length - 5))); }
    box.hidden = others.length === 0;
    box.setAttribute("aria-label", others.length ? "Also here: " + others.join(", ") : "Nobody else is here");
  });
}
