// @ts-check
// A project's status badges follow the lifecycle messages (home page and workspace alike).

/**
 * What the server's `lifecycle` websocket message carries (projects/relay/consumers.py).
 * @typedef {object} LifecyclePayload
 * @property {string} [public_id]
 * @property {string} status
 * @property {string} [status_label]
 * @property {string} [step]
 * @property {number} [done]
 * @property {number} [total]
 */

/**
 * Repaint every status badge of the project `publicId` on this page.
 * @param {LifecyclePayload} payload
 * @param {string} [publicId] the project the badges belong to (default: the payload's)
 * @returns {number} how many badges this page shows for it
 */
export function applyLifecycle(payload, publicId = payload.public_id) {
  const badges = document.querySelectorAll("[data-status-badge='" + publicId + "']");
  badges.forEach((badge) => {
    badge.className = "badge badge-" + payload.status;
    badge.textContent = payload.status_label || payload.status;
  });
  return badges.length;
}
