// @ts-check
// Notices for a person who looked away: when a run ends or the agent asks for a secret while
// the tab is hidden, a browser notification (only once they allowed it, with the "Notify me"
// control: Notification.requestPermission needs their gesture) and a "(1) " badge on the
// tab's title, cleared when they come back.
//
// Session names come from the Sprite: they only ever reach plain-text fields here.

import { el } from "../../lib/dom.js";

var PREFERENCE = "starter:chat-notifications";
var BADGE = /^\(\d+\) /;

/**
 * @param {object} options
 * @param {(sessionId: string) => string} options.sessionLabel how people know a session
 * @param {(sessionId: string) => void} options.focusSession show that session's chat
 */
export function createNotifier(options) {
  /** @type {HTMLButtonElement[]} */ var controls = [];
  var unseen = 0;
  var supported = typeof window.Notification === "function";

  function wanted() {
    try { return window.localStorage.getItem(PREFERENCE) === "on"; } catch (error) { return false; }
  }

  /** @param {boolean} on */
  function remember(on) {
    try { window.localStorage.setItem(PREFERENCE, on ? "on" : "off"); } catch (error) { /* private mode */ }
  }

  function enabled() { return supported && Notification.permission === "granted" && wanted(); }

  function updateControls() {
    controls.forEach(function (button) {
      var denied = supported && Notification.permission === "denied";
      button.hidden = !supported;
      button.disabled = denied;
      button.setAttribute("aria-pressed", enabled() ? "true" : "false");
      button.title = denied
        ? "Notifications are blocked for this site in the browser's settings"
        : enabled() ? "On: a notice when a run ends or the agent needs a secret while this tab is hidden (click to turn off)"
          : "Get a notice when a run ends or the agent needs a secret while this tab is hidden";
    });
  }

  function toggle() {
    if (!supported) { return; }
    if (enabled()) { remember(false); updateControls(); return; }
    Promise.resolve(Notification.requestPermission()).then(function (permission) {
      remember(permission === "granted");
      updateControls();
    }, function () { updateControls(); });
  }

  function clearBadge() {
    unseen = 0;
    document.title = document.title.replace(BADGE, "");
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { clearBadge(); }
  });

  /**
   * @param {string} sessionId
   * @param {string} title
   * @param {string} body
   */
  function raise(sessionId, title, body) {
    if (document.visibilityState !== "hidden") { return; }
    unseen += 1;
    document.title = "(" + unseen + ") " + document.title.replace(BADGE, "");
    if (!enabled()) { return; }
    try {
      var notice = new Notification(title, { body: body, tag: "starter-chat-" + sessionId });
      notice.addEventListener("click", function () {
        window.focus();
        options.focusSession(sessionId);
        notice.close();
      });
    } catch (error) { /* a browser that only notifies from a service worker: the badge stays */ }
  }

  /** The page's project, as its title names it (without our badge). */
  function where() { return document.title.replace(BADGE, ""); }

  return {
    /** A "Notify me" toggle for a chat panel's toolbar. @returns {HTMLButtonElement} */
    control() {
      var button = el("button", "button button-small button-ghost notify-toggle", "Notify me");
      button.type = "button";
      button.addEventListener("click", toggle);
      // Forget the toggles of closed panels (the new one is not on the page yet).
      controls = controls.filter(function (other) { return other.isConnected; });
      controls.push(button);
      updateControls();
      return button;
    },
    /** @param {string} sessionId a run of this session ended */
    runEnded(sessionId) {
      raise(sessionId, "The agent finished", options.sessionLabel(sessionId) + " · " + where());
    },
    /** @param {string} sessionId @param {string} name the secret the agent asks for */
    secretRequested(sessionId, name) {
      raise(sessionId, "The agent needs a secret", "It asks for " + name + " in " +
        options.sessionLabel(sessionId) + " · " + where());
    },
    /** how many notices wait for the person (the tab's badge) */
    get unseen() { return unseen; },
  };
}
