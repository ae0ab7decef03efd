// @ts-check
// Toasts: the short messages in the corner, from the server (Django messages) or a script.

const TOAST_KINDS = new Set(["info", "success", "warning", "error"]);

/** Toasts not yet on a timer fade out after a few seconds. */
export function fadeToasts() {
  document.querySelectorAll("#toasts .toast:not([data-timed])").forEach((node) => {
    const toastNode = /** @type {HTMLElement} */ (node);
    toastNode.dataset.timed = "1";
    setTimeout(() => { toastNode.classList.add("toast-hide"); }, 6000);
    setTimeout(() => { toastNode.remove(); }, 6600);
  });
}

/**
 * Show a toast. `kind` may come from an agent's notify event: only the known looks apply.
 * @param {string} text
 * @param {string} [kind]
 */
export function toast(text, kind) {
  const node = document.createElement("div");
  node.className = "toast toast-" + (kind && TOAST_KINDS.has(kind) ? kind : "info");
  node.textContent = text;
  document.getElementById("toasts")?.appendChild(node);
  fadeToasts();
}
