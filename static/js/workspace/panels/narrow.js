// @ts-check
// The workspace on a narrow screen (a phone): one panel at a time, chosen in a switcher.
//
// The layout tree (layout.js) stays as it is, so widening the window brings the splits back.
// This module only marks the root `.is-narrow`, names the panel in view in the root's
// `data-active-panel`, and gives that panel `.is-narrow-active`; workspace.css hides the
// others. The panel in view is the focused one (a panel just opened, or one the sidebar
// asked for), else the one shown before, else the first. layout.js announces each render
// and focus change with a `panels:change` event on its root.

/** The width below which the workspace shows one panel; the same as in workspace.css. */
export const NARROW_QUERY = "(max-width: 700px)";

/**
 * @param {any} panels the Panels instance (layout.js)
 * @param {HTMLElement} root the element the panels render into
 * @param {HTMLSelectElement} select the switcher listing the open panels
 * @param {HTMLElement} switcher what holds the select (shown only when narrow)
 */
export function createNarrowLayout(panels, root, select, switcher) {
  const query = window.matchMedia(NARROW_QUERY);
  /** @type {string | null} */
  let activeId = null;

  /** @param {string} id */
  function titleOf(id) {
    const title = root.querySelector(`.panel[data-panel-id="${CSS.escape(id)}"] .panel-title`);
    return (title && title.textContent) || "Panel";
  }

  function listPanels() {
    const open = panels.panels();
    const ids = open.map((/** @type {any} */ panel) => panel.id);
    // Rebuild only when the list changed: a rebuilt select loses its open state.
    const same = select.options.length === ids.length &&
      ids.every((/** @type {string} */ id, /** @type {number} */ index) => select.options[index].value === id);
    if (!same) {
      select.textContent = "";
      ids.forEach((/** @type {string} */ id) => { select.add(new Option(titleOf(id), id)); });
    } else {
      Array.from(select.options).forEach((option) => { option.text = titleOf(option.value); });
    }
    return ids;
  }

  function sync() {
    const narrow = query.matches;
    root.classList.toggle("is-narrow", narrow);
    switcher.hidden = !narrow;
    if (!narrow) {
      delete root.dataset.activePanel;
      root.querySelectorAll(".is-narrow-active").forEach((node) => node.classList.remove("is-narrow-active"));
      return;
    }
    const ids = listPanels();
    if (panels.focusedId && ids.includes(panels.focusedId)) { activeId = panels.focusedId; }
    else if (!activeId || !ids.includes(activeId)) { activeId = ids[0] || null; }
    if (activeId) { root.dataset.activePanel = activeId; } else { delete root.dataset.activePanel; }
    root.querySelectorAll(".panel[data-panel-id]").forEach((node) => {
      node.classList.toggle("is-narrow-active", /** @type {HTMLElement} */ (node).dataset.panelId === activeId);
    });
    if (activeId) { select.value = activeId; }
  }

  select.addEventListener("change", () => {
    activeId = select.value;
    // Focus the panel's frame, not its first field: on a phone that would open the keyboard.
    // `show` also brings it to the front of its tab group.
    panels.show(activeId);
  });
  // Titles change as chats get named: refresh the labels when someone reaches for the list.
  select.addEventListener("focus", () => { if (query.matches) { listPanels(); } });
  root.addEventListener("panels:change", sync);
  query.addEventListener("change", sync);
  sync();
  return { sync };
}
