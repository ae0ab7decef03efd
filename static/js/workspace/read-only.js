// @ts-check
// A viewer's workspace: it watches, it does not act. The server refuses every change
// anyway (projects.lookup: the member role is needed); this only keeps the page from
// offering what would be refused: the composer is disabled with the viewer's note, the
// terminal takes no keys (the relay drops a viewer's input too), the editor is read-only
// and the Files panel's upload/rename/delete and the editor's Save are hidden (CSS:
// `.ws-read-only`, static/css/workspace.css).
//
// The panels are built by their own modules as they open, so a MutationObserver settles
// each control as it appears rather than every module asking about the role.

/**
 * @param {HTMLElement} root the workspace (`.ws`)
 * @param {string} note what the composer says instead ("You are a viewer in …")
 * @returns {{destroy: () => void}}
 */
export function applyReadOnly(root, note) {
  root.classList.add("ws-read-only");
  /** @param {ParentNode} scope */
  const settle = (scope) => {
    scope.querySelectorAll(".composer-input").forEach((node) => {
      const input = /** @type {HTMLTextAreaElement} */ (node);
      input.disabled = true;
      input.placeholder = note;
      input.title = note;
    });
    scope.querySelectorAll(".composer button").forEach((node) => {
      /** @type {HTMLButtonElement} */ (node).disabled = true;
    });
    scope.querySelectorAll(".editor-text").forEach((node) => {
      /** @type {HTMLTextAreaElement} */ (node).readOnly = true;
    });
  };
  settle(root);
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node instanceof HTMLElement) { settle(node.parentElement || node); }
      }
      // The composer re-enables its buttons when a run ends: disable them again.
      if (record.type === "attributes" && record.target instanceof HTMLButtonElement && record.target.closest(".composer") && !record.target.disabled) {
        record.target.disabled = true;
      }
    }
  });
  observer.observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: ["disabled"] });
  // Keys and pastes aimed at a terminal stop here, before xterm.js sees them.
  /** @param {Event} event */
  const swallow = (event) => {
    const target = event.target;
    if (target instanceof Element && target.closest(".xterm") && root.contains(target)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  };
  const kinds = ["keydown", "keypress", "paste", "beforeinput", "drop"];
  for (const kind of kinds) { document.addEventListener(kind, swallow, true); }
  return {
    destroy() {
      observer.disconnect();
      for (const kind of kinds) { document.removeEventListener(kind, swallow, true); }
    },
  };
}
