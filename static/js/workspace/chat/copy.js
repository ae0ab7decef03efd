// @ts-check
// Copy buttons and timestamps on chat messages.
//
// Everything inside a message came from the Sprite. Our controls are added with DOM APIs
// next to the sanitised rendering (never as markup built from its text), and what is copied
// is the message's own source text, never the rendered HTML.
//
// The words of our controls (a button's "Copy", a message's time) are drawn by CSS from a
// data-label attribute: a message's text (what a selection, a screen reader's text or a
// test reads as its textContent) stays the agent's alone.

import { el } from "../../lib/dom.js";
import { textOf } from "./session.js";

// Marks our own controls inside a message: search and "copy message" skip them.
export var CHROME_CLASS = "chat-chrome";
var COPIED_FOR_MS = 1600;

/**
 * The Markdown source of a message: a person's text, or an assistant's text blocks.
 * @param {any} message
 * @returns {string}
 */
export function messageSource(message) {
  if (!message) { return ""; }
  if (message.role === "assistant") {
    return (Array.isArray(message.content) ? message.content : [])
      .filter(function (part) { return part && part.type === "text" && typeof part.text === "string"; })
      .map(function (part) { return part.text; }).join("\n\n");
  }
  return textOf(message.content);
}

/**
 * Put `text` on the clipboard; the button says "Copied" for a moment and `announce` tells
 * screen readers.
 * @param {HTMLButtonElement} button
 * @param {string} text
 * @param {(message: string) => void} announce
 */
export function copyText(button, text, announce) {
  var clipboard = navigator.clipboard;
  if (!clipboard || typeof clipboard.writeText !== "function") {
    announce("Copying needs a secure page (HTTPS).");
    return Promise.resolve(false);
  }
  return clipboard.writeText(text).then(function () {
    button.dataset.label = "Copied";
    button.classList.add("is-copied");
    announce("Copied to the clipboard.");
    setTimeout(function () {
      button.dataset.label = "Copy";
      button.classList.remove("is-copied");
    }, COPIED_FOR_MS);
    return true;
  }, function () {
    announce("The browser refused to copy.");
    return false;
  });
}

/**
 * @param {string} name accessible name
 * @param {() => string} read the text to copy, read when clicked
 * @param {(message: string) => void} announce
 * @returns {HTMLButtonElement}
 */
function copyButton(name, read, announce) {
  var button = el("button", "copy-button " + CHROME_CLASS);
  button.type = "button";
  button.dataset.label = "Copy";
  button.setAttribute("aria-label", name);
  button.title = name;
  button.addEventListener("click", function () { copyText(button, read(), announce); });
  return button;
}

/**
 * A copy button on every code block inside `container` (a rendered Markdown block). The
 * block is wrapped so the button sits over it without becoming part of its text.
 * @param {Element} container
 * @param {(message: string) => void} announce
 */
export function addCodeCopyButtons(container, announce) {
  container.querySelectorAll(".markdown pre").forEach(function (pre) {
    var parent = pre.parentElement;
    if (!parent || parent.classList.contains("code-block")) { return; }
    var wrapper = el("div", "code-block");
    parent.insertBefore(wrapper, pre);
    wrapper.appendChild(pre);
    wrapper.appendChild(copyButton("Copy code", function () {
      var code = pre.querySelector("code");
      // Markdown ends a code block's text with a newline that is not part of the code.
      return ((code || pre).textContent || "").replace(/\n$/, "");
    }, announce));
  });
}

/**
 * When a message was written, as pi records it (milliseconds since the epoch, or an ISO
 * string): a short local time, the full date in its title.
 * @param {unknown} timestamp
 * @returns {HTMLTimeElement | null}
 */
export function timeElement(timestamp) {
  if (timestamp == null || timestamp === "") { return null; }
  var date = new Date(typeof timestamp === "number" ? timestamp : String(timestamp));
  if (isNaN(date.getTime())) { return null; }
  var today = new Date();
  var sameDay = date.toDateString() === today.toDateString();
  var short = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (!sameDay) { short = date.toLocaleDateString([], { month: "short", day: "numeric" }) + ", " + short; }
  var node = el("time", "msg-time");
  node.dataset.label = short;
  node.dateTime = date.toISOString();
  node.title = date.toLocaleString([], { dateStyle: "full", timeStyle: "long" });
  return node;
}

/**
 * The line under a message: when it was written and a button copying its source.
 * @param {any} message
 * @param {(message: string) => void} announce
 * @returns {HTMLElement}
 */
export function messageFooter(message, announce) {
  var footer = el("div", "msg-meta " + CHROME_CLASS);
  var time = timeElement(message.timestamp);
  if (time) { footer.appendChild(time); }
  if (messageSource(message)) {
    var who = message.role === "user" ? "your message" : "the agent's message";
    footer.appendChild(copyButton("Copy " + who + " (Markdown)", function () {
      return messageSource(message);
    }, announce));
  }
  return footer;
}
