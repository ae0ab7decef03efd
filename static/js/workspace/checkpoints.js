// @ts-check
// The checkpoints dialog: the project's saved states, loaded when it opens.

import { fragment } from "../lib/http.js";
import { enhance } from "../lib/render.js";

/**
 * Wires the `data-open-checkpoints` buttons; returns the function that opens the dialog.
 * @param {string} url the checkpoints fragment
 * @returns {() => void}
 */
export function createCheckpoints(url) {
  const dialog = /** @type {HTMLDialogElement | null} */ (document.getElementById("checkpoints-dialog"));
  const open = () => {
    if (!dialog) { return; }
    const body = dialog.querySelector(".dialog-body");
    dialog.showModal();
    if (body) { fragment(body, url, { prepare: enhance }); }
  };
  document.querySelectorAll("[data-open-checkpoints]").forEach((button) => {
    button.addEventListener("click", open);
  });
  return open;
}
