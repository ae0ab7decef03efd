// @ts-check
// Small DOM builders shared by every page's scripts.

/**
 * A new element with an optional class list and text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string | null} [className]
 * @param {string | null} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text != null) { node.textContent = text; }
  return node;
}

/**
 * A small square button showing an SVG glyph (ours, never agent-written), labelled for
 * screen readers and as a tooltip.
 * @param {string} label
 * @param {string} glyph
 * @param {(event: MouseEvent) => void} handler
 * @returns {HTMLButtonElement}
 */
export function iconButton(label, glyph, handler) {
  const button = el("button", "panel-action");
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.title = label;
  button.innerHTML = glyph;
  button.addEventListener("click", handler);
  return button;
}
